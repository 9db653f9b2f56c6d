"""``wayline report``: analytics over the warehouse, printed as a table or as JSON."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from wayline.analytics.fields import Scope
from wayline.cli_support import (
    AsJson,
    DataDir,
    WorkspaceOpt,
    choose_workspace,
    open_migrated,
    settings_for,
)
from wayline.report_output import AsCsv, Since, Until, emit, parse_time, records
from wayline.settings import Settings

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from wayline.analytics.funnels import Funnel
    from wayline.analytics.stage_model import StageModel
    from wayline.analytics.warehouse import Warehouse

T = TypeVar("T")

report_app = typer.Typer(
    rich_markup_mode="markdown", no_args_is_help=True, help="Reports over the analytics warehouse."
)

WorkspaceOption = Annotated[str, typer.Option("--workspace", help="Workspace name or id")]


def _workspace_id(settings: Settings, name: str) -> str:
    store = open_migrated(settings)
    try:
        return choose_workspace(store, name).id
    finally:
        store.close()


def _stage_model(
    data_dir: Path | None, workspace: str, model: Path | None, preset: str | None
) -> StageModel:
    """``--model``, else ``--preset``, else the workspace's own stage model (``wayline stages
    apply``), else the ``ecommerce`` preset."""
    from wayline.analytics import params
    from wayline.stages.store import StageStore
    from wayline.store.sql import SqlStore

    if model is None and preset is None:
        store = open_migrated(_settings(data_dir))
        try:
            assert isinstance(store, SqlStore)
            stored = StageStore(store).model(choose_workspace(store, workspace).id)
        finally:
            store.close()
        if stored is not None:
            return stored.model
    return params.stage_model(model, preset)


@report_app.command("events-per-day")
def events_per_day(
    workspace: WorkspaceOption, as_json: AsJson = False, data_dir: DataDir = None
) -> None:
    """Events per call type per day (UTC), as loaded into the warehouse so far."""
    from wayline.analytics.queries import events_per_day as query
    from wayline.analytics.warehouse import open_warehouse

    settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    workspace_id = _workspace_id(settings, workspace)
    warehouse = open_warehouse(settings)
    try:
        rows = query(warehouse, workspace_id).to_pylist()
    finally:
        warehouse.close()
    if as_json:
        out = [{**r, "day": r["day"].isoformat()} for r in rows]
        sys.stdout.write(json.dumps(out) + "\n")
        return
    table = Table("day", "type", "events", title=f"Events per day: {workspace}")
    table.columns[2].justify = "right"
    for r in rows:
        table.add_row(r["day"].isoformat(), r["type"], f"{r['events']:,}")
    Console().print(table)


# -- the discovered journey, attribution, experiments ---------------------------------------


def _scope_and_warehouse(
    data_dir: Path | None, workspace: str | None, since: str | None, until: str | None
) -> tuple[Scope, Warehouse]:
    from wayline.analytics.warehouse import open_warehouse

    settings = settings_for(data_dir)
    store = open_migrated(settings)
    try:
        workspace_id = choose_workspace(store, workspace).id
    finally:
        store.close()
    scope = Scope(
        workspace_id=workspace_id,
        since=parse_time(since, "--since"),
        until=parse_time(until, "--until"),
    )
    return scope, open_warehouse(settings)


Activity = Annotated[
    str, typer.Option(help="The event field that names a step: event, properties.page, …")
]


@report_app.command("discovered-journey")
def discovered_journey(
    workspace: WorkspaceOpt = None,
    activity: Activity = "event",
    since: Since = None,
    until: Until = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """The directly-follows graph of what customers really do: how often one step follows
    another, and the median time between them (no source: cases starting there; no
    target: cases ending there)."""
    from wayline.analytics.discovery import directly_follows

    scope, warehouse = _scope_and_warehouse(data_dir, workspace, since, until)
    try:
        frame = directly_follows(warehouse, scope, activity)
    finally:
        warehouse.close()
    emit(frame, title="Discovered journey (directly-follows)", as_json=as_json, as_csv=as_csv)


@report_app.command("variants")
def journey_variants(
    workspace: WorkspaceOpt = None,
    activity: Activity = "event",
    top: Annotated[int, typer.Option(help="How many variants")] = 10,
    since: Since = None,
    until: Until = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """The most common sequences of steps, one per customer."""
    from wayline.analytics.discovery import variants

    scope, warehouse = _scope_and_warehouse(data_dir, workspace, since, until)
    try:
        frame = variants(warehouse, scope, activity, top=top)
    finally:
        warehouse.close()
    emit(frame, title="Most common variants", as_json=as_json, as_csv=as_csv)


@report_app.command("conformance")
def conformance_report(
    workspace: WorkspaceOpt = None,
    journey: Annotated[
        str | None, typer.Option(help="Compare with this journey's entry, waits and goal")
    ] = None,
    sequence: Annotated[
        str | None, typer.Option(help="Or with these steps, comma-separated (a stage sequence)")
    ] = None,
    activity: Activity = "event",
    project: Annotated[
        bool, typer.Option(help="Ignore events that are not steps of the designed journey")
    ] = True,
    since: Since = None,
    until: Until = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """Fitness of real behaviour to a designed journey, and where customers deviate."""
    from wayline.analytics.conformance import conformance

    scope, warehouse = _scope_and_warehouse(data_dir, workspace, since, until)
    try:
        model = _designed(data_dir, scope.workspace_id, journey, sequence)
        result = conformance(warehouse, scope, model, activity, project=project)
    finally:
        warehouse.close()
    if as_json:
        sys.stdout.write(
            json.dumps({**result.to_json(), "deviations": records(result.deviations)}) + "\n"
        )
        return
    if not as_csv:
        Console().print(
            f"Designed: {' → '.join(result.model)}\n"
            f"cases {result.cases:,}, fitting {result.fitting_cases:,}, "
            f"log fitness {result.log_fitness:.4f}, "
            f"average trace fitness {result.average_trace_fitness:.4f}"
        )
    emit(result.deviations, title="Deviations", as_json=False, as_csv=as_csv)


def _designed(
    data_dir: Path | None, workspace_id: str, journey: str | None, sequence: str | None
) -> list[str]:
    from wayline.analytics.conformance import designed_sequence
    from wayline.analytics.fields import BadParameter
    from wayline.journeys.spec import Journey
    from wayline.store.journeys import JourneyStore
    from wayline.store.sql import SqlStore

    if (journey is None) == (sequence is None):
        raise BadParameter("--journey", "give either --journey or --sequence")
    if sequence is not None:
        return [s.strip() for s in sequence.split(",") if s.strip()]
    store = open_migrated(settings_for(data_dir))
    try:
        assert isinstance(store, SqlStore)
        journeys = JourneyStore(store)
        record = journeys.journey(workspace_id, journey or "")
        if record is None:
            raise BadParameter("--journey", f"no journey {journey!r}")
        spec = journeys.spec(workspace_id, record.journey_id, record.version)
    finally:
        store.close()
    return designed_sequence(Journey.model_validate(spec))


@report_app.command("attribution")
def attribution_report(
    workspace: WorkspaceOpt = None,
    by: Annotated[
        str, typer.Option(help="channel, campaign, journey, or an event field path")
    ] = "channel",
    conversion_event: Annotated[str, typer.Option(help="The event that is a conversion")] = (
        "Order Completed"
    ),
    revenue: Annotated[str, typer.Option(help="The conversion's revenue field")] = (
        "properties.revenue"
    ),
    model: Annotated[
        list[str] | None, typer.Option(help="Models to run (repeatable); default: all")
    ] = None,
    half_life_days: Annotated[float, typer.Option(help="Time decay half-life")] = 7.0,
    markov_order: Annotated[int, typer.Option(help="Markov chain order, 1 to 3")] = 1,
    lookback_days: Annotated[
        float | None, typer.Option(help="Only touches this close before a conversion")
    ] = None,
    since: Since = None,
    until: Until = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """Conversions and revenue per channel (campaign, journey…) under each model."""
    from wayline.analytics.attribution import MODELS, attribution

    scope, warehouse = _scope_and_warehouse(data_dir, workspace, since, until)
    try:
        frame = attribution(
            warehouse,
            scope,
            by=by,
            conversion_event=conversion_event,
            revenue=revenue,
            models=model or MODELS,
            half_life_days=half_life_days,
            markov_order=markov_order,
            lookback_days=lookback_days,
        )
    finally:
        warehouse.close()
    emit(frame, title=f"Attribution by {by}", as_json=as_json, as_csv=as_csv)


@report_app.command("experiments")
def experiments_report(
    journey: Annotated[str, typer.Argument(help="The journey id")],
    workspace: WorkspaceOpt = None,
    confidence: Annotated[float, typer.Option(help="Confidence level")] = 0.95,
    min_customers: Annotated[
        int, typer.Option(help="Customers each arm needs before a verdict")
    ] = 100,
    min_conversions: Annotated[
        int, typer.Option(help="Conversions both arms need together before a verdict")
    ] = 10,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """Each split of a journey: conversion per variant against the control, uplift, the
    z-test and its interval, the probability to beat the control, and sample ratio."""
    from wayline.analytics.experiments import experiments
    from wayline.store.sql import SqlStore

    store = open_migrated(settings_for(data_dir))
    try:
        assert isinstance(store, SqlStore)
        workspace_id = choose_workspace(store, workspace).id
        frame = experiments(
            store,
            workspace_id,
            journey,
            confidence=confidence,
            min_customers=min_customers,
            min_conversions=min_conversions,
        )
    finally:
        store.close()
    emit(frame, title=f"Experiments in {journey}", as_json=as_json, as_csv=as_csv)


# -- journey analytics -----------------------------------------------------------------------
# Each command reads the warehouse through the same functions as the API and notebooks, and
# prints a table, or JSON (--json) or CSV (--csv) for other tools.

FromOption = Annotated[
    str | None, typer.Option("--from", help="Only events from this date/time (ISO 8601, UTC)")
]
ToOption = Annotated[
    str | None, typer.Option("--to", help="Only events before this date/time (ISO 8601, UTC)")
]
ModelOption = Annotated[
    Path | None, typer.Option("--model", help="The stage model (YAML file)", show_default=False)
]
PresetOption = Annotated[
    str | None,
    typer.Option(
        "--preset",
        help="A built-in stage model: ecommerce or saas "
        "(default: the workspace's own, else ecommerce)",
    ),
]
LimitOption = Annotated[
    int | None,
    typer.Option(
        help="Customers listed at most (default: 1000 in a table; all, streamed, with "
        "--json or --csv)",
        show_default=False,
    ),
]
AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="Measure as of this date/time (default: now)")
]


def _settings(data_dir: Path | None) -> Settings:
    return Settings(data_dir=data_dir) if data_dir is not None else Settings()


def _run(data_dir: Path | None, workspace: str, analysis: Callable[[Warehouse, str], T]) -> T:
    """Run one analysis against the workspace's warehouse, closing it afterwards."""
    from wayline.analytics.warehouse import open_warehouse

    settings = _settings(data_dir)
    workspace_id = _workspace_id(settings, workspace)
    warehouse = open_warehouse(settings)
    try:
        return analysis(warehouse, workspace_id)
    finally:
        warehouse.close()


def _emit(frame: pd.DataFrame, title: str, as_json: bool, as_csv: bool) -> None:
    from wayline.analytics.params import records

    rows = records(frame)
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=[str(c) for c in frame.columns])
        writer.writeheader()
        writer.writerows(rows)
        return
    table = Table(*[str(c) for c in frame.columns], title=title)
    for row in rows:
        table.add_row(*(_cell(v) for v in row.values()))
    Console().print(table)


def _limited(expr: Any, limit: int | None) -> Any:
    return expr if limit is None else expr.limit(limit)


def _stream(
    data_dir: Path | None,
    workspace: str,
    build: Callable[[Warehouse, str], Any],
    as_json: bool,
) -> None:
    """Write a long result (a customer list) as it comes out of the warehouse, batch by
    batch: a JSON array or CSV, never the whole list in memory."""
    from wayline.analytics.params import records

    def write(warehouse: Warehouse, workspace_id: str) -> None:
        expr = build(warehouse, workspace_id)
        out = sys.stdout
        first = True
        writer: csv.DictWriter[str] | None = None
        if as_json:
            out.write("[")
        for batch in warehouse.stream(expr):
            rows = records(batch.to_pandas())
            if as_json:
                for row in rows:
                    out.write(("" if first else ",") + json.dumps(row))
                    first = False
            else:
                if writer is None:
                    writer = csv.DictWriter(out, fieldnames=list(batch.schema.names))
                    writer.writeheader()
                writer.writerows(rows)
        if as_json:
            out.write("]\n")
        elif writer is None:
            out.write(",".join(expr.columns) + "\n")

    _run(data_dir, workspace, write)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _members(
    data_dir: Path | None, workspace: str, segment_ids: tuple[str, ...] | None
) -> pa.Table | None:
    """The segments' members, for a segment breakdown (``None``: not one)."""
    if segment_ids is None:
        return None
    from wayline.analytics.segment_members import segment_members
    from wayline.store.sql import SqlStore

    store = open_migrated(_settings(data_dir))
    try:
        assert isinstance(store, SqlStore)
        return segment_members(store, choose_workspace(store, workspace).id, segment_ids)
    finally:
        store.close()


def _save_dropped(
    data_dir: Path | None,
    workspace: str,
    spec: Funnel,
    step: int,
    segment_id: str,
    name: str | None,
    as_json: bool,
) -> None:
    """Save a step's drop-offs as a new static segment and say how many it holds."""
    from wayline.analytics.eventlog import InvalidAnalysis
    from wayline.analytics.warehouse import open_warehouse
    from wayline.clock import SystemClock
    from wayline.errors import SegmentInvalid
    from wayline.segments.static import save_dropped
    from wayline.store.sql import SqlStore

    settings = _settings(data_dir)
    store = open_migrated(settings)
    try:
        assert isinstance(store, SqlStore)
        target = choose_workspace(store, workspace)
        warehouse = open_warehouse(settings)
        try:
            saved = save_dropped(
                store, SystemClock(), warehouse, target.id, spec, step, segment_id, name
            )
        except SegmentInvalid as exc:
            first = exc.problems[0]
            field = "save-segment" if first.path in ("", "id") else first.path
            raise InvalidAnalysis(field, first.message) from None
        finally:
            warehouse.close()
    finally:
        store.close()
    out = {
        "segment_id": saved.segment_id,
        "name": saved.name,
        "dropped": saved.dropped,
        "size": saved.size,
    }
    if as_json:
        sys.stdout.write(json.dumps(out) + "\n")
        return
    typer.echo(
        f"{saved.segment_id}: static segment with {saved.size} members "
        f"({saved.dropped} customers dropped before step {step})"
    )


@report_app.command("funnel")
def funnel_command(
    workspace: WorkspaceOption,
    step: Annotated[list[str], typer.Option("--step", help="A step's event (repeat, in order)")],
    mode: Annotated[str, typer.Option(help="ordered, strict or any_order")] = "ordered",
    window: Annotated[str, typer.Option(help="Conversion window from the first step")] = "14d",
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="EVENT, or EVENT:FROM-TO between those steps"),
    ] = None,
    breakdown: Annotated[
        str | None,
        typer.Option(
            help="properties.NAME, context.NAME, traits.NAME, channel, or segment "
            "(every segment) / segment:ID,ID (members now)"
        ),
    ] = None,
    channel: Annotated[
        list[str] | None,
        typer.Option(help="Where --breakdown channel reads the channel (repeat; first wins)"),
    ] = None,
    dropped: Annotated[
        int | None,
        typer.Option(help="List the customers who dropped before this step instead"),
    ] = None,
    save_segment: Annotated[
        str | None,
        typer.Option(
            "--save-segment",
            help="With --dropped: save those customers as a new static segment with this id",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="With --save-segment: the segment's name", show_default=False),
    ] = None,
    times: Annotated[bool, typer.Option("--times", help="Show the time histogram")] = False,
    limit: LimitOption = None,
    start: FromOption = None,
    end: ToOption = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """Conversion through ordered, strict or any-order steps."""
    from wayline.analytics import params
    from wayline.analytics.eventlog import DEFAULT_CHANNEL_PATHS, InvalidAnalysis
    from wayline.analytics.funnels import (
        Funnel,
        FunnelMode,
        dropped_customers,
        dropped_customers_expr,
        funnel_report,
    )

    if mode not in {m.value for m in FunnelMode}:
        raise InvalidAnalysis("mode", f"{mode!r}: expected ordered, strict or any_order")
    spec = Funnel(
        steps=tuple(step),
        mode=FunnelMode(mode),
        window=params.duration(window, "window"),
        exclusions=tuple(params.exclusion(x) for x in exclude or ()),
        breakdown=breakdown,
        channel_paths=tuple(channel) if channel else DEFAULT_CHANNEL_PATHS,
        start=params.moment(start, "from"),
        end=params.moment(end, "to"),
    )
    spec.check()
    if save_segment is not None or name is not None:
        if dropped is None:
            raise InvalidAnalysis("save-segment", "say which step's drop-offs with --dropped")
        if save_segment is None:
            raise InvalidAnalysis("name", "--name goes with --save-segment")
        _save_dropped(data_dir, workspace, spec, dropped, save_segment, name, as_json)
        return
    members = _members(data_dir, workspace, spec.segments)
    if dropped is not None:
        at_step = dropped
        if as_json or as_csv:
            _stream(
                data_dir,
                workspace,
                lambda w, ws: _limited(
                    dropped_customers_expr(w, ws, spec, at_step, members), limit
                ),
                as_json,
            )
            return
        frame = _run(
            data_dir,
            workspace,
            lambda w, ws: dropped_customers(
                w, ws, spec, at_step, limit=limit or 1000, members=members
            ),
        )
        _emit(frame, f"Dropped before step {dropped}", as_json, as_csv)
        return
    report = _run(data_dir, workspace, lambda w, ws: funnel_report(w, ws, spec, members))
    if times:
        _emit(report.times, "Time from the previous step", as_json, as_csv)
    else:
        _emit(report.steps, f"Funnel: {' → '.join(step)}", as_json, as_csv)


@report_app.command("paths")
def paths_command(
    workspace: WorkspaceOption,
    start_event: Annotated[str | None, typer.Option(help="Paths after this event")] = None,
    end_event: Annotated[str | None, typer.Option(help="Paths before this event")] = None,
    depth: Annotated[int, typer.Option(help="Steps to follow")] = 5,
    session_gap: Annotated[str, typer.Option(help="Inactivity that ends a session")] = "30m",
    top: Annotated[int, typer.Option(help="Links kept per step")] = 20,
    start: FromOption = None,
    end: ToOption = None,
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
    )
    spec.check()
    frame = _run(data_dir, workspace, lambda w, ws: paths(w, ws, spec))
    _emit(frame, "Paths", as_json, as_csv)


@report_app.command("retention")
def retention_command(
    workspace: WorkspaceOption,
    start_event: Annotated[str | None, typer.Option(help="Cohort event (default: any)")] = None,
    return_event: Annotated[str | None, typer.Option(help="Returning event (default: any)")] = None,
    period: Annotated[str, typer.Option(help="day, week or month")] = "week",
    kind: Annotated[str, typer.Option(help="first_time or recurring")] = "first_time",
    periods: Annotated[int, typer.Option(help="Periods after the cohort's")] = 12,
    start: FromOption = None,
    end: ToOption = None,
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
    frame = _run(data_dir, workspace, lambda w, ws: retention(w, ws, spec))
    if as_json or as_csv:
        _emit(frame, "Retention", as_json, as_csv)
        return
    _print_cohorts(frame, spec.periods)


def _print_cohorts(frame: pd.DataFrame, periods: int) -> None:
    """The usual triangle: a row per cohort, a column per period, the share retained."""
    from wayline.analytics.params import records

    rows = records(frame)
    width = min(periods, max((r["period"] for r in rows), default=0)) + 1
    table = Table("cohort", "customers", *(str(p) for p in range(width)), title="Retention")
    by_cohort: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_cohort.setdefault(str(r["cohort"]), []).append(r)
    for cohort, cells in by_cohort.items():
        rates = {c["period"]: f"{c['rate']:.0%}" for c in cells}
        table.add_row(
            cohort,
            f"{cells[0]['cohort_size']:,}",
            *(rates.get(p, "") for p in range(width)),
        )
    Console().print(table)


@report_app.command("stages")
def stages_command(
    workspace: WorkspaceOption,
    model: ModelOption = None,
    preset: PresetOption = None,
    as_of: AsOfOption = None,
    customers: Annotated[
        bool, typer.Option("--customers", help="List customers and their stage instead")
    ] = False,
    stalled: Annotated[bool, typer.Option("--stalled", help="Only stalled customers")] = False,
    stage: Annotated[str | None, typer.Option(help="Only customers in this stage")] = None,
    limit: LimitOption = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """Per stage: customers who entered, are in it now, moved on, typical time, stalled."""
    from wayline.analytics import params
    from wayline.analytics.stages import current_stages, stage_customers_expr, stage_summary

    stage_model = _stage_model(data_dir, workspace, model, preset)
    when = params.moment(as_of, "as_of")
    if (customers or stalled or stage) and (as_json or as_csv):
        _stream(
            data_dir,
            workspace,
            lambda w, ws: _limited(
                stage_customers_expr(
                    w, ws, stage_model, as_of=when, stage=stage, stalled_only=stalled
                ),
                limit,
            ),
            as_json,
        )
        return
    if customers or stalled or stage:
        frame = _run(
            data_dir,
            workspace,
            lambda w, ws: current_stages(
                w,
                ws,
                stage_model,
                as_of=when,
                stage=stage,
                stalled_only=stalled,
                limit=limit or 1000,
            ),
        )
        _emit(frame, "Customers by stage", as_json, as_csv)
        return
    frame = _run(data_dir, workspace, lambda w, ws: stage_summary(w, ws, stage_model, as_of=when))
    _emit(frame, "Stages", as_json, as_csv)


@report_app.command("journey-map")
def journey_map_command(
    workspace: WorkspaceOption,
    model: ModelOption = None,
    preset: PresetOption = None,
    as_of: AsOfOption = None,
    output_format: Annotated[
        str, typer.Option("--format", help="table, html, png, svg or json")
    ] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file", show_default=False)
    ] = None,
    channel: Annotated[
        list[str] | None,
        typer.Option(help="Where the channel is read from (repeat; first found wins)"),
    ] = None,
    touchpoints: Annotated[int, typer.Option(help="Touchpoints (columns) shown")] = 12,
    min_customers: Annotated[int, typer.Option(help="Customers a cell needs to be flagged")] = 10,
    data_dir: DataDir = None,
) -> None:
    """Stages by touchpoints with conversion, time, sentiment and pain points."""
    from wayline.analytics import params
    from wayline.analytics.eventlog import DEFAULT_CHANNEL_PATHS, InvalidAnalysis
    from wayline.analytics.journey_map import JourneyMapSpec, PainPointRules, journey_map
    from wayline.analytics.journey_map_render import to_html, to_png, to_svg

    formats = ("table", "html", "png", "svg", "json")
    if output_format not in formats:
        raise InvalidAnalysis("format", f"{output_format!r}: expected {', '.join(formats)}")
    if output_format == "png" and output is None and sys.stdout.isatty():
        raise InvalidAnalysis("output", "a PNG needs --output FILE (or a pipe)")
    spec = JourneyMapSpec(
        model=_stage_model(data_dir, workspace, model, preset),
        as_of=params.moment(as_of, "as_of"),
        channel_paths=tuple(channel) if channel else DEFAULT_CHANNEL_PATHS,
        touchpoints=touchpoints,
        rules=PainPointRules(min_customers=min_customers),
    )
    spec.check()
    result = _run(data_dir, workspace, lambda w, ws: journey_map(w, ws, spec))
    title = f"Journey map: {workspace}"
    if output_format == "table":
        frame = result.to_frame()
        _emit(frame, title, False, False)
        for p in result.pain_points:
            Console().print(f"[red]{p.kind}[/] {p.message}")
        return
    body: bytes
    if output_format == "json":
        body = (json.dumps(result.to_json()) + "\n").encode()
    elif output_format == "html":
        body = to_html(result, title).encode()
    elif output_format == "svg":
        body = to_svg(result, title).encode()
    else:
        body = to_png(result, title)
    if output is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return
    # Write beside the target, then rename: an interrupted export leaves no half a file.
    partial = output.with_name(output.name + ".partial")
    partial.write_bytes(body)
    partial.replace(output)
