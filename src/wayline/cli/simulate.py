"""``wayline journeys simulate``: what a journey would have done over a past period.

The stored events of the period are replayed through the journey on a virtual clock (see
``wayline.engine.simulate``); nothing is sent and the workspace's store is only read.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from wayline.cli.support import (
    AsJson,
    DataDir,
    WorkspaceOpt,
    choose_workspace,
    open_existing,
    settings_for,
)
from wayline.errors import JourneyInvalid

if TYPE_CHECKING:
    from rich.progress import TaskID

    from wayline.engine.simulation_report import SimulationReport

FromOpt = Annotated[
    str,
    typer.Option(
        "--from",
        help="Start of the period (included): 2026-01-31 or 2026-01-31T09:00; "
        "without an offset, in the workspace's time zone",
        show_default=False,
    ),
]
ToOpt = Annotated[
    str,
    typer.Option("--to", help="End of the period (not included), written the same way"),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")]


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise SystemExit(1)


def parse_moment(option: str, text: str, zone: str) -> datetime:
    """A date or date and time; without an offset it is read in ``zone``."""
    value = text.strip()
    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), time())
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        _fail(f"{option}: not a date: {text!r} (use 2026-01-31 or 2026-01-31T09:00)")
        raise  # unreachable: _fail exits
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC)


class _Bar:
    """A Rich progress bar on the terminal, one task per phase of the simulation."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description:<17}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> _Bar:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def phase(self, description: str, total: int | None) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)


def simulate(
    file: Annotated[Path, typer.Argument(help="The journey file, YAML or JSON")],
    start: FromOpt,
    end: ToOpt,
    workspace: WorkspaceOpt = None,
    as_json: AsJson = False,
    quiet: QuietOpt = False,
    data_dir: DataDir = None,
) -> None:
    """Replay a period's stored events through a journey, sending nothing, and report how
    many customers would enter, reach each node, receive what, and convert.
    """
    from wayline.engine.compile import not_yet_run
    from wayline.engine.simulate import simulate as run
    from wayline.journeys.entries import EventEntry
    from wayline.journeys.loading import load_journey
    from wayline.store.sql import SqlStore

    try:
        journey = load_journey(file)
    except JourneyInvalid as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise SystemExit(1) from None
    store = open_existing(settings_for(data_dir))
    try:
        target = choose_workspace(store, workspace)
        begin = parse_moment("--from", start, target.timezone)
        finish = parse_moment("--to", end, target.timezone)
        if finish <= begin:
            _fail(f"--to ({end}) must be after --from ({start})")
        for note in not_yet_run(journey):
            typer.echo(f"{journey.id}: warning: {note}", err=True)
        if not isinstance(journey.entry, EventEntry):
            typer.echo(
                f"{journey.id}: warning: only an event entry enrols customers in a simulation",
                err=True,
            )
        assert isinstance(store, SqlStore)
        err = Console(stderr=True)
        if quiet or not err.is_terminal:
            report = run(store, target, journey, begin, finish)
        else:
            with _Bar(err) as bar:
                report = run(store, target, journey, begin, finish, progress=bar)
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict()) + "\n")
        return
    _print(report)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _print(report: SimulationReport) -> None:
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=120)  # a file or a pipe: room for the node table
    console.print(
        f"[bold]{report.journey_id}[/]: simulated {report.start.isoformat()} to "
        f"{report.end.isoformat()}"
    )
    console.print(f"{report.events:,} stored events replayed; nothing was sent")
    refused = ", ".join(f"{k} {v:,}" for k, v in report.refused.items())
    summary = Table(show_header=False, box=None)
    summary.add_column(justify="left")
    summary.add_column(justify="right")
    summary.add_row("entries", f"{report.entries:,}")
    summary.add_row("customers", f"{report.customers:,}")
    why = f" ({refused})" if refused else ""
    summary.add_row("refused by re-entry", f"{report.refused_total:,}{why}")
    summary.add_row(
        "converted",
        f"{report.converted:,} ({_pct(report.converted, report.entries)} of entries)",
    )
    for outcome, count in report.outcomes.items():
        summary.add_row(f"left: {outcome}", f"{count:,}")
    summary.add_row("still inside at the end", f"{report.inside:,}")
    console.print(summary)

    nodes = Table("node", "type", "reached", "passed", "waiting", "left here", "detail")
    for column in nodes.columns[2:5]:
        column.justify = "right"
    for n in report.nodes:
        detail = ", ".join(f"{k} {v:,}" for k, v in n.variants.items())
        left = ", ".join(f"{k} {v:,}" for k, v in n.ended.items())
        nodes.add_row(
            n.id, n.type, f"{n.reached:,}", f"{n.passed:,}", f"{n.waiting:,}", left, detail
        )
    console.print(nodes)

    if report.messages:
        sent = Table("node", "channel", "template", "messages", "customers", title="Would send")
        for column in sent.columns[3:]:
            column.justify = "right"
        for m in report.messages:
            sent.add_row(m.node, m.channel, m.template or "", f"{m.messages:,}", f"{m.customers:,}")
        console.print(sent)
    else:
        console.print("Would send nothing.")
