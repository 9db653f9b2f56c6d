"""``wayline report`` on outcomes: attribution of conversions, and journey experiments."""

from __future__ import annotations

from typing import Annotated

import typer

from wayline.cli.output import AsCsv, AsJson, Since, Until, emit
from wayline.cli.report import common
from wayline.cli.support import DataDir, WorkspaceOpt, choose_workspace, open_existing, settings_for


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

    scope, warehouse = common.scope_and_warehouse(data_dir, workspace, since, until)
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

    store = open_existing(settings_for(data_dir))
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
