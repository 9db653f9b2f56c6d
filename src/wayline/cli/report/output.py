"""How ``wayline report`` prints a DataFrame: a table, JSON (``--json``) or CSV (``--csv``)."""

from __future__ import annotations

import itertools
import json
import math
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from wayline.analytics.fields import BadParameter

if TYPE_CHECKING:
    import pandas as pd

AsCsv = Annotated[bool, typer.Option("--csv", help="Print CSV only")]
Since = Annotated[
    str | None,
    typer.Option(help="Only events from this time (ISO 8601; UTC unless it has an offset)"),
]
Until = Annotated[str | None, typer.Option(help="Only events before this time (ISO 8601)")]


def parse_time(value: str | None, parameter: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadParameter(parameter, f"not an ISO 8601 time: {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def plain(value: Any) -> Any:
    """A JSON-ready value: NaN and NA become null, numpy scalars Python ones."""
    import pandas as pd

    if isinstance(value, list):
        return [plain(v) for v in value]
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if not isinstance(value, (str, bool, int, float)) and pd.api.types.is_scalar(value):
        if pd.isna(value):
            return None
        return value.item() if hasattr(value, "item") else value
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _runs(steps: list[Any]) -> list[str]:
    """Repeated steps shown once with a count: ``A (3) → B``."""
    out: list[str] = []
    for step, run in itertools.groupby(steps):
        n = len(list(run))
        out.append(f"{step} ({n})" if n > 1 else str(step))
    return out


def _cell(value: Any) -> str:
    value = plain(value)
    if value is None:
        return "-"
    if isinstance(value, list):
        return " → ".join(_runs(value))
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def emit(
    frame: pd.DataFrame,
    *,
    title: str,
    as_json: bool,
    as_csv: bool,
    right: Sequence[str] = (),
) -> None:
    """Print ``frame`` the way the options ask."""
    if as_json and as_csv:
        raise BadParameter("--json", "choose one of --json and --csv")
    if as_json:
        sys.stdout.write(json.dumps(records(frame)) + "\n")
        return
    if as_csv:
        out = frame.copy()
        for column in out.columns:
            if out[column].map(lambda v: isinstance(v, list)).any():
                out[column] = out[column].map(lambda v: " > ".join(map(str, v)))
        sys.stdout.write(out.to_csv(index=False))
        return
    import pandas as pd

    table = Table(*frame.columns, title=title)
    for i, column in enumerate(frame.columns):
        if column in right or pd.api.types.is_numeric_dtype(frame[column]):
            table.columns[i].justify = "right"
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    Console().print(table)
