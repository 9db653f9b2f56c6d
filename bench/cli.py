"""How long the ``wayline`` command takes to start, beside Python itself.

    .venv/bin/python bench/cli.py [--runs 5]

Runs ``wayline --help``, ``wayline report --help`` and ``wayline workspace list`` (on a
data dir with one workspace, made first in a temporary directory) ``--runs`` times each and
prints the median wall and CPU time of each beside ``python -c pass``. The light commands should
start in under half a second. Each run starts a new process, as a user's shell does, with
the environment as it is: when ``PYTHONDONTWRITEBYTECODE`` is set and no ``.pyc`` files
exist, every run compiles every module it imports, which is slower than an installed
Wayline starts.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS = 0.5


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], runs: int) -> tuple[float, float]:
    """The median wall time and CPU time of ``runs`` runs of ``command``, in seconds.

    The CPU time (user and system) hardly changes when other processes share the machine;
    the wall time does."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu = _cpu_of_children()
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - started)
        cpus.append(_cpu_of_children() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command")
    runs = parser.parse_args().runs
    wayline = [sys.executable, "-c", "from wayline.cli import main; main()"]
    script = Path(sys.executable).with_name("wayline")
    if script.exists():
        wayline = [str(script)]
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = str(Path(tmp) / "data")
        subprocess.run(
            [*wayline, "workspace", "create", "bench", "--data-dir", data_dir],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        rows = [
            ("python -c pass", [sys.executable, "-c", "pass"], None),
            ("wayline --help", [*wayline, "--help"], GOAL_SECONDS),
            ("wayline report --help", [*wayline, "report", "--help"], GOAL_SECONDS),
            (
                "wayline workspace list",
                [*wayline, "workspace", "list", "--data-dir", data_dir],
                GOAL_SECONDS,
            ),
        ]
        print(f"{'command':<26}{'wall (s)':>10}{'CPU (s)':>10}{'goal (s)':>10}")
        for name, command, goal in rows:
            wall, cpu = timed(command, runs)
            shown = "" if goal is None else f"< {goal:.1f}"
            print(f"{name:<26}{wall:>10.3f}{cpu:>10.3f}{shown:>10}")


if __name__ == "__main__":
    main()
