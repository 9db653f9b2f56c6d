"""``wayline import events|profiles FILE``: the command line of ``importer.py``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

import typer

from wayline.cli.support import (
    DataDir,
    WorkspaceOpt,
    choose_workspace,
    open_existing,
    settings_for,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress as RichProgress

    from wayline.import_mapping import Kind
    from wayline.importer import ImportReport, RejectedRow

import_app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="Import events or profiles from CSV, NDJSON or Parquet files (gzip allowed).",
)

#: Rejected rows shown in the report's table.
SHOWN: int = 20


FileArg = Annotated[
    Path,
    typer.Argument(
        help="A .csv, .ndjson/.jsonl (either optionally .gz) or .parquet file", show_default=False
    ),
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="TARGET=COLUMN[:CAST], e.g. userId=CustomerID:int, properties.price=UnitPrice "
        "(repeatable; CAST: str, int, float, bool, json)",
        show_default=False,
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help='TARGET=VALUE for every row, e.g. event="Order Completed" (repeatable)',
        show_default=False,
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format", help="csv, ndjson or parquet; default: from the file name", show_default=False
    ),
]
TimezoneOpt = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        help="Zone of timestamps without an offset, e.g. Europe/London; default: UTC",
        show_default=False,
    ),
]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Rows per transaction")]
RejectsOpt = Annotated[
    Path | None,
    typer.Option(
        "--rejects",
        help="Write every rejected row to this file as NDJSON (line, field, error, row)",
        show_default=False,
    ),
]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Exit with status 1 if any row was rejected")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON only")]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress bar and no table of rejected rows")
]


@import_app.command("events")
def events(
    file: FileArg,
    workspace: WorkspaceOpt = None,
    maps: MapOpt = None,
    sets: SetOpt = None,
    fmt: FormatOpt = None,
    timezone: TimezoneOpt = None,
    batch_size: BatchOpt = 5000,
    rejects: RejectsOpt = None,
    strict: StrictOpt = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    data_dir: DataDir = None,
) -> None:
    """Import events: each row a track call (or the call its `type` names).

    Columns named like Segment fields (userId, anonymousId, event, timestamp, messageId,
    type, context) fill them; every other column goes into properties. Importing the same
    file again adds nothing.
    """
    _run(
        "events",
        file=file,
        workspace=workspace,
        maps=maps,
        sets=sets,
        fmt=fmt,
        timezone=timezone,
        batch_size=batch_size,
        rejects=rejects,
        strict=strict,
        as_json=as_json,
        quiet=quiet,
        data_dir=data_dir,
    )


@import_app.command("profiles")
def profiles(
    file: FileArg,
    workspace: WorkspaceOpt = None,
    maps: MapOpt = None,
    sets: SetOpt = None,
    fmt: FormatOpt = None,
    timezone: TimezoneOpt = None,
    batch_size: BatchOpt = 5000,
    rejects: RejectsOpt = None,
    strict: StrictOpt = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    data_dir: DataDir = None,
) -> None:
    """Import profiles: each row an identify call for its userId, the other columns traits."""
    _run(
        "profiles",
        file=file,
        workspace=workspace,
        maps=maps,
        sets=sets,
        fmt=fmt,
        timezone=timezone,
        batch_size=batch_size,
        rejects=rejects,
        strict=strict,
        as_json=as_json,
        quiet=quiet,
        data_dir=data_dir,
    )


def _run(
    kind: Kind,
    *,
    file: Path,
    workspace: str | None,
    maps: list[str] | None,
    sets: list[str] | None,
    fmt: str | None,
    timezone: str | None,
    batch_size: int,
    rejects: Path | None,
    strict: bool,
    as_json: bool,
    quiet: bool,
    data_dir: Path | None,
) -> None:
    import orjson
    from rich.console import Console

    from wayline.clock import SystemClock
    from wayline.import_files import ImportFileError, detect_format
    from wayline.import_mapping import ColumnMap
    from wayline.importer import run_import
    from wayline.ingest import Ingestor

    columns = ColumnMap.parse(kind, maps or (), sets or (), timezone)
    detect_format(file, fmt)  # a bad name fails before the store is opened
    console = Console()
    settings = settings_for(data_dir)
    store = open_existing(settings, migrate=True)
    out: BinaryIO | None = None
    try:
        target = choose_workspace(store, workspace)
        if rejects is not None:
            try:
                out = rejects.open("wb")
            except OSError as exc:
                raise ImportFileError(f"cannot write {rejects}: {exc.strerror or exc}") from None

        def write_reject(row: RejectedRow) -> None:
            assert out is not None
            out.write(orjson.dumps(row.as_json()) + b"\n")

        show_progress = console.is_terminal and not (quiet or as_json)
        with _Bar(console, file.name, enabled=show_progress) as bar:
            report = run_import(
                Ingestor(store, SystemClock(), settings),
                target.id,
                file,
                columns,
                fmt=fmt,
                batch_size=batch_size,
                progress=bar,
                on_reject=write_reject if out is not None else None,
            )
    finally:
        if out is not None:
            out.close()
        store.close()
    if as_json:
        sys.stdout.write(orjson.dumps(report.as_json()).decode() + "\n")
    else:
        _print_report(console, report, target.name, quiet=quiet, rejects=rejects)
    if strict and report.rejected:
        raise typer.Exit(1)


class _Bar:
    """A Rich progress bar over bytes or rows, or nothing at all."""

    def __init__(self, console: Console, name: str, *, enabled: bool) -> None:
        self.console = console
        self.name = name
        self.enabled = enabled
        self._progress: RichProgress | None = None
        self._task: Any = None

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start(self, total: int, unit: str) -> None:
        if not self.enabled:
            return
        from rich import progress as p

        amount = p.DownloadColumn() if unit == "bytes" else p.MofNCompleteColumn()
        self._progress = p.Progress(
            p.TextColumn("[bold]{task.description}"),
            p.BarColumn(),
            amount,
            p.TextColumn("{task.fields[rows]:>12,} rows"),
            p.TimeElapsedColumn(),
            p.TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._task = self._progress.add_task(self.name, total=total or None, rows=0)
        self._progress.start()

    def update(self, position: int, rows: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=position, rows=rows)


def _print_report(
    console: Console, report: ImportReport, workspace: str, *, quiet: bool, rejects: Path | None
) -> None:
    from rich.markup import escape
    from rich.table import Table

    rate = report.read / report.seconds if report.seconds > 0 else 0.0
    console.print(
        f"Imported {escape(report.path)} ({report.format}) "
        f"into workspace [bold]{escape(workspace)}[/]: "
        f"{report.read:,} rows in {report.seconds:.1f} s ({rate:,.0f} rows/s)"
    )
    console.print(
        f"  [green]{report.landed:,} new[/], {report.present:,} already present, "
        f"[{'red' if report.rejected else 'green'}]{report.rejected:,} rejected[/]"
    )
    if not report.rejected or quiet:
        return
    table = Table("line", "field", "reason", title="Rejected rows", title_justify="left")
    for row in report.rejections[:SHOWN]:
        table.add_row(str(row.line), escape(row.field or "-"), escape(row.error))
    console.print(table)
    more = report.rejected - min(SHOWN, len(report.rejections))
    if more > 0:
        where = (
            f"all of them are in {escape(str(rejects))}"
            if rejects
            else "--rejects FILE writes them all"
        )
        console.print(f"  … and {more:,} more rejected rows; {where}")
