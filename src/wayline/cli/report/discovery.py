"""``wayline report`` on the discovered journey: directly-follows, variants, conformance."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from wayline.cli.output import AsCsv, AsJson, Since, Until, emit, records
from wayline.cli.report import common
from wayline.cli.support import DataDir, WorkspaceOpt, open_existing, settings_for


def discovered_journey(
    workspace: WorkspaceOpt = None,
    activity: common.Activity = "event",
    since: Since = None,
    until: Until = None,
    include_internal: common.IncludeInternal = False,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """The directly-follows graph of what customers really do: how often one step follows
    another, and the median time between them (no source: cases starting there; no
    target: cases ending there)."""
    from wayline.analytics.discovery import directly_follows

    scope, warehouse = common.scope_and_warehouse(data_dir, workspace, since, until)
    try:
        frame = directly_follows(warehouse, scope, activity, include_internal=include_internal)
    finally:
        warehouse.close()
    emit(frame, title="Discovered journey (directly-follows)", as_json=as_json, as_csv=as_csv)


def journey_variants(
    workspace: WorkspaceOpt = None,
    activity: common.Activity = "event",
    top: Annotated[int, typer.Option(help="How many variants")] = 10,
    since: Since = None,
    until: Until = None,
    include_internal: common.IncludeInternal = False,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """The most common sequences of steps, one per customer."""
    from wayline.analytics.discovery import variants

    scope, warehouse = common.scope_and_warehouse(data_dir, workspace, since, until)
    try:
        frame = variants(warehouse, scope, activity, top=top, include_internal=include_internal)
    finally:
        warehouse.close()
    emit(frame, title="Most common variants", as_json=as_json, as_csv=as_csv)


def conformance_report(
    workspace: WorkspaceOpt = None,
    journey: Annotated[
        str | None, typer.Option(help="Compare with this journey's entry, waits and goal")
    ] = None,
    sequence: Annotated[
        str | None, typer.Option(help="Or with these steps, comma-separated (a stage sequence)")
    ] = None,
    activity: common.Activity = "event",
    project: Annotated[
        bool, typer.Option(help="Ignore events that are not steps of the designed journey")
    ] = True,
    since: Since = None,
    until: Until = None,
    include_internal: common.IncludeInternal = False,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """Fitness of real behaviour to a designed journey, and where customers deviate."""
    from wayline.analytics.conformance import conformance

    scope, warehouse = common.scope_and_warehouse(data_dir, workspace, since, until)
    try:
        model = _designed(data_dir, scope.workspace_id, journey, sequence)
        result = conformance(
            warehouse,
            scope,
            model,
            activity,
            project=project,
            include_internal=include_internal,
        )
    finally:
        warehouse.close()
    if as_json:
        sys.stdout.write(
            json.dumps({**result.to_json(), "deviations": records(result.deviations)}) + "\n"
        )
        return
    if not as_csv:
        from rich.console import Console

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
    store = open_existing(settings_for(data_dir))
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
