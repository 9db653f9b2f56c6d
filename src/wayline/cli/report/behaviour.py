"""``wayline report`` on behaviour over time: paths, retention, events per day."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from wayline.cli.output import AsCsv, AsJson, emit, print_rows, print_table, records
from wayline.cli.report import common
from wayline.cli.support import DataDir, WorkspaceOpt

if TYPE_CHECKING:
    import pandas as pd


def events_per_day(
    workspace: WorkspaceOpt = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """Events per call type per day (UTC), as loaded into the warehouse so far."""
    from wayline.analytics.queries import events_per_day as query

    rows = common.run(data_dir, workspace, lambda w, ws: query(w, ws).to_pylist())
    out = [{**r, "day": r["day"].isoformat()} for r in rows]
    print_rows(
        ["day", "type", "events"], out, title="Events per day", as_json=as_json, as_csv=as_csv
    )


def paths_command(
    workspace: WorkspaceOpt = None,
    start_event: Annotated[str | None, typer.Option(help="Paths after this event")] = None,
    end_event: Annotated[str | None, typer.Option(help="Paths before this event")] = None,
    depth: Annotated[int, typer.Option(help="Steps to follow")] = 5,
    session_gap: Annotated[str, typer.Option(help="Inactivity that ends a session")] = "30m",
    top: Annotated[int, typer.Option(help="Links kept per step")] = 20,
    start: common.FromOption = None,
    end: common.ToOption = None,
    include_internal: common.IncludeInternal = False,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """Top transitions after a start event or before an end event (Sankey links)."""
    from wayline.analytics import params
    from wayline.analytics.paths import Paths, paths

    spec = Paths(
        start_event=start_event,
        end_event=end_event,
        depth=depth,
        session_gap=params.duration(session_gap, "session_gap"),
        top=top,
        start=params.moment(start, "from"),
        end=params.moment(end, "to"),
        include_internal=include_internal,
    )
    spec.check()
    frame = common.run(data_dir, workspace, lambda w, ws: paths(w, ws, spec))
    emit(frame, title="Paths", as_json=as_json, as_csv=as_csv)


def retention_command(
    workspace: WorkspaceOpt = None,
    start_event: Annotated[str | None, typer.Option(help="Cohort event (default: any)")] = None,
    return_event: Annotated[str | None, typer.Option(help="Returning event (default: any)")] = None,
    period: Annotated[str, typer.Option(help="day, week or month")] = "week",
    kind: Annotated[str, typer.Option(help="first_time or recurring")] = "first_time",
    periods: Annotated[int, typer.Option(help="Periods after the cohort's")] = 12,
    start: common.FromOption = None,
    end: common.ToOption = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """Cohorts by first (or every) event and how many come back, per period."""
    from wayline.analytics import params
    from wayline.analytics.eventlog import InvalidAnalysis
    from wayline.analytics.retention import CohortKind, Period, Retention, retention

    if period not in {p.value for p in Period}:
        raise InvalidAnalysis("period", f"{period!r}: expected day, week or month")
    if kind not in {k.value for k in CohortKind}:
        raise InvalidAnalysis("kind", f"{kind!r}: expected first_time or recurring")
    spec = Retention(
        start_event=start_event,
        return_event=return_event,
        period=Period(period),
        kind=CohortKind(kind),
        periods=periods,
        start=params.moment(start, "from"),
        end=params.moment(end, "to"),
    )
    spec.check()
    frame = common.run(data_dir, workspace, lambda w, ws: retention(w, ws, spec))
    if as_json or as_csv:
        emit(frame, title="Retention", as_json=as_json, as_csv=as_csv)
        return
    _print_cohorts(frame, spec.periods)


def _print_cohorts(frame: pd.DataFrame, periods: int) -> None:
    """The usual triangle: a row per cohort, a column per period, the share retained."""
    rows = records(frame)
    width = min(periods, max((r["period"] for r in rows), default=0)) + 1
    columns = ["cohort", "customers", *(str(p) for p in range(width))]
    by_cohort: dict[str, dict[str, Any]] = {}
    for r in rows:
        line = by_cohort.setdefault(
            str(r["cohort"]), {"cohort": str(r["cohort"]), "customers": r["cohort_size"]}
        )
        if r["period"] < width:
            line[str(r["period"])] = f"{r['rate']:.0%}"
    print_table(columns, list(by_cohort.values()), title="Retention", right=columns[1:])
