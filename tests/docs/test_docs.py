"""Every command the README and docs/ show is run: each shell block is marked ``runnable``
(and run here, in order, against the demo that ``scripts/demo`` starts) or ``norun`` with the
reason it cannot run in a test."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.harness import free_port
from tests.docs.blocks import ROOT, Block, documents, shell_blocks

#: How long ``scripts/demo`` may take to serve and load its sample shop.
DEMO_TIMEOUT = 600.0
#: How long one block may run.
BLOCK_TIMEOUT = 300.0


def test_every_shell_block_is_runnable_or_says_why_not() -> None:
    unmarked = [
        b.where for b in shell_blocks() if not b.runnable and not (b.norun and len(b.info) > 1)
    ]
    assert not unmarked, (
        "shell blocks must be marked `runnable`, or `norun` followed by the reason: "
        + ", ".join(unmarked)
    )


#: The blocks that cannot run in a test, by document: each says why in its fence. A new one
#: is a decision, made here.
NORUN = {
    "README.md": 2,  # the quick start itself; serve on your own data (runs until stopped)
    "analytics.md": 1,  # needs the Online Retail data set
    "benchmarks.md": 8,  # benchmarks: minutes to hours
    "demo.md": 1,  # scripts/demo runs until Ctrl-C
    "deployment.md": 2,  # a PostgreSQL host; serve runs until stopped; secret keys to rotate
}


def test_only_the_known_blocks_do_not_run() -> None:
    counts: dict[str, int] = {}
    for b in shell_blocks():
        if not b.runnable:
            counts[b.path.name] = counts.get(b.path.name, 0) + 1
    assert counts == NORUN


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``scripts/demo`` on a fresh data dir, serving until the module ends: the environment
    the docs' blocks run in."""
    data = tmp_path_factory.mktemp("demo") / "data"
    port = free_port()
    log_path = data.parent / "demo.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAYLINE_")}
    env.update(WAYLINE_DATA_DIR=str(data), WAYLINE_PORT=str(port))
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "demo")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + DEMO_TIMEOUT
        while "Wayline is running at" not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"scripts/demo did not come up:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.5)
        credentials = json.loads((data / "credentials.json").read_text())
        yield {
            **env,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "WAYLINE_URL": f"http://127.0.0.1:{port}",
            "WRITE_KEY": credentials["write_key"],
            "ADMIN_TOKEN": credentials["admin_token"],
            "COLUMNS": "100",
        }
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


#: A few lines shaped as the Online Retail data set's, for the import example.
RETAIL = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    "536365,85123A,WHITE HANGING HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom\n"
    "536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,,United Kingdom\n"
    "C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527,United Kingdom\n"
)


def _workdir(tmp_path: Path) -> Path:
    """Where a document's blocks run: paths of the repository (the demo shop's files under
    src/) as a reader at its root sees them, and the files the examples name."""
    (tmp_path / "src").symlink_to(ROOT / "src")
    with gzip.open(tmp_path / "online-retail.csv.gz", "wt") as out:
        out.write(RETAIL)
    return tmp_path


def _run(block: Block, env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.body],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, (
        f"{block.where} failed ({done.returncode}):\n{block.body}\n"
        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )


@pytest.mark.parametrize(
    "document",
    [p for p in documents() if any(b.runnable for b in shell_blocks() if b.path == p)],
    ids=lambda p: p.name,
)
def test_the_documents_commands_run(document: Path, demo: dict[str, str], tmp_path: Path) -> None:
    # one working directory per document: a block may use what an earlier one made
    workdir = _workdir(tmp_path)
    for block in shell_blocks():
        if block.path == document and block.runnable:
            _run(block, demo, workdir)
