"""A bounded fuzzing run: ``bench/fuzz.py`` sends Schemathesis-generated requests (valid and
invalid, from ``/openapi.json``) to a real ``wayline serve`` on each store, loaded with the
demo shop; not one may be answered with a 5xx. The long run (10,000+ requests) is the
benchmark's, in docs/benchmarks.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| (\w+) \| ([^|]+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|")


def test_generated_requests_are_never_answered_with_a_5xx() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "fuzz.py"),
            *("--examples", "5", "--phases", "examples,fuzzing", "--customers", "10"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )

    rows = [ROW.match(line) for line in done.stdout.splitlines()]
    table = [m.groups() for m in rows if m]
    assert done.returncode == 0, done.stdout + done.stderr[-8000:]
    assert {(store, part.strip()) for store, part, *_ in table} == {
        (store, part)
        for store in ("sqlite", "postgresql")
        for part in ("admin API, links", "tracking API")
    }
    for _store, _part, operations, generated, failed, answered, errors in table:
        assert int(operations) > 10
        assert int(generated) >= int(operations)  # every operation was sent something
        assert int(answered) >= int(generated)  # and the server saw each request
        assert (int(failed), int(errors)) == (0, 0)
