"""How a command prints rows: a table that fits the terminal, JSON (``--json``) or CSV
(``--csv``, a header row first)."""

from __future__ import annotations

import csv
import itertools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wayline.cli.support import AsJson
from wayline.errors import WaylineError

__all__ = [
    "AsCsv",
    "AsJson",
    "Since",
    "Until",
    "emit",
    "print_listing",
    "print_rows",
    "print_table",
]

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

AsCsv = Annotated[bool, typer.Option("--csv", help="Print CSV only, with a header row")]
Since = Annotated[
    str | None,
    typer.Option(help="Only events from this time (ISO 8601; UTC unless it has an offset)"),
]
Until = Annotated[str | None, typer.Option(help="Only events before this time (ISO 8601)")]

#: A column is given at most this many characters when deciding what fits; Rich wraps the rest.
WIDEST_COLUMN = 24
#: Rich draws a border and one space either side of each cell.
COLUMN_FRAME = 3


class BadOption(WaylineError):
    """The options given do not go together."""


def parse_time(value: str | None, parameter: str) -> datetime | None:
    from wayline.analytics.fields import BadParameter

    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadParameter(parameter, f"not an ISO 8601 time: {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    from wayline.analytics.params import records as frame_records

    return frame_records(frame)


def _runs(steps: list[Any]) -> list[str]:
    """Repeated steps shown once with a count: ``A (3) → B``."""
    out: list[str] = []
    for step, run in itertools.groupby(steps):
        n = len(list(run))
        out.append(f"{step} ({n})" if n > 1 else str(step))
    return out


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return " → ".join(_runs(value))
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def csv_value(value: Any) -> Any:
    if isinstance(value, list):
        return " > ".join(map(str, value))
    return "" if value is None else value


def write_csv(
    columns: Sequence[str], rows: Iterable[dict[str, Any]], *, header: bool = True
) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_value(row.get(c)) for c in columns])


def fitting(
    columns: Sequence[str], rows: Sequence[Sequence[str]], width: int
) -> tuple[list[str], list[str]]:
    """The leading columns that fit in ``width`` characters, and the ones left out.

    Each column counts as wide as its header or its widest cell, up to ``WIDEST_COLUMN``
    (Rich wraps what is longer); the first column is always kept."""
    kept: list[str] = []
    used = 1
    for i, name in enumerate(columns):
        widest = max([len(name), *(len(r[i]) for r in rows)])
        need = min(widest, WIDEST_COLUMN) + COLUMN_FRAME
        if kept and used + need > width:
            return kept, list(columns[i:])
        kept.append(name)
        used += need
    return kept, []


def print_table(
    columns: Sequence[str],
    rows: Sequence[dict[str, Any]],
    *,
    title: str,
    right: Sequence[str] = (),
    console: Console | None = None,
) -> None:
    """A Rich table that keeps within the terminal: columns that would not fit are left
    out, and a line says which."""
    from rich.console import Console
    from rich.table import Table

    out = console or Console()
    text = [[cell(r.get(c)) for c in columns] for r in rows]
    kept, dropped = fitting(columns, text, out.width)
    table = Table(*kept, title=title)
    for i, name in enumerate(kept):
        numeric = all(isinstance(r.get(name), int | float) for r in rows if r.get(name) is not None)
        if name in right or (rows and numeric):
            table.columns[i].justify = "right"
    for line in text:
        table.add_row(*line[: len(kept)])
    out.print(table)
    if dropped:
        out.print(
            f"Not shown, for want of room: {', '.join(dropped)} "
            "(--json or --csv gives every column)",
            markup=False,
        )


def print_rows(
    columns: Sequence[str],
    rows: Sequence[dict[str, Any]],
    *,
    title: str,
    as_json: bool,
    as_csv: bool,
    right: Sequence[str] = (),
) -> None:
    """Print rows the way the options ask: a table, JSON or CSV."""
    if as_json and as_csv:
        raise BadOption("choose one of --json and --csv")
    if as_json:
        sys.stdout.write(json.dumps(list(rows)) + "\n")
    elif as_csv:
        write_csv(columns, rows)
    else:
        print_table(columns, rows, title=title, right=right)


def print_listing(
    columns: Sequence[str],
    rows: Sequence[dict[str, Any]],
    *,
    as_json: bool,
    as_csv: bool,
    line: Callable[[dict[str, Any]], str],
) -> None:
    """A listing: a tab-separated line per row (``line``), or JSON or CSV of the rows."""
    if as_json or as_csv:
        print_rows(columns, rows, title="", as_json=as_json, as_csv=as_csv)
        return
    for row in rows:
        typer.echo(line(row))


def emit(
    frame: pd.DataFrame,
    *,
    title: str,
    as_json: bool,
    as_csv: bool,
    right: Sequence[str] = (),
) -> None:
    """Print ``frame`` the way the options ask."""
    columns = [str(c) for c in frame.columns]
    print_rows(columns, records(frame), title=title, as_json=as_json, as_csv=as_csv, right=right)
