"""``wayline serve --log-format json``: every line it logs is one JSON object."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import httpx

from tests.acceptance.harness import free_port, wait_until, wayline_executable


def test_json_log_lines(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAYLINE_")}
    command = [wayline_executable(), "serve", "--data-dir", str(tmp_path / "data")]
    command += ["--port", str(port), "--log-format", "json", "--log-level", "info"]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=out)
    try:

        def health() -> int:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code
            except httpx.TransportError:
                return 0

        assert wait_until(health, lambda s: s == 200, timeout=60) == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(r["message"].startswith("Wayline listening on") for r in records)
    # uvicorn's own lines come through the same formatter
    assert any(r["logger"].startswith("uvicorn") for r in records), records
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
