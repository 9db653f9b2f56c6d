"""``wayline report``: analytics over the warehouse, printed as a table or as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    from wayline.analytics.warehouse import Warehouse

report_app = typer.Typer(no_args_is_help=True, help="Reports over the analytics warehouse.")

WorkspaceOption = Annotated[str, typer.Option("--workspace", help="Workspace name or id")]


def _workspace_id(settings: Settings, name: str) -> str:
    store = open_migrated(settings)
    try:
        return choose_workspace(store, name).id
    finally:
        store.close()


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
