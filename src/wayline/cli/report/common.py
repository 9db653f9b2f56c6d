"""What the reports share: their options, and reading one workspace's warehouse."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from wayline.cli.output import parse_time, records
from wayline.cli.support import choose_workspace, open_existing, settings_for

if TYPE_CHECKING:
    import pyarrow as pa

    from wayline.analytics.fields import Scope
    from wayline.analytics.stage_model import StageModel
    from wayline.analytics.warehouse import Warehouse
    from wayline.store.base import Workspace

T = TypeVar("T")

Activity = Annotated[
    str, typer.Option(help="The event field that names a step: event, properties.page, …")
]
IncludeInternal = Annotated[
    bool,
    typer.Option(
        "--include-internal",
        help="Keep the events Wayline records itself (Segment Entered, Message Sent…)",
    ),
]
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


def workspace_of(data_dir: Path | None, workspace: str | None) -> Workspace:
    """The workspace named, or the only one, from a store that must already exist."""
    store = open_existing(settings_for(data_dir))
    try:
        return choose_workspace(store, workspace)
    finally:
        store.close()


def stage_model(
    data_dir: Path | None, workspace: str | None, model: Path | None, preset: str | None
) -> StageModel:
    """``--model``, else ``--preset``, else the workspace's own stage model (``wayline stages
    apply``), else the ``ecommerce`` preset."""
    from wayline.analytics import params
    from wayline.stages.store import StageStore
    from wayline.store.sql import SqlStore

    if model is None and preset is None:
        store = open_existing(settings_for(data_dir))
        try:
            assert isinstance(store, SqlStore)
            stored = StageStore(store).model(choose_workspace(store, workspace).id)
        finally:
            store.close()
        if stored is not None:
            return stored.model
    return params.stage_model(model, preset)


def scope_and_warehouse(
    data_dir: Path | None, workspace: str | None, since: str | None, until: str | None
) -> tuple[Scope, Warehouse]:
    from wayline.analytics.fields import Scope
    from wayline.analytics.warehouse import open_warehouse

    scope = Scope(
        workspace_id=workspace_of(data_dir, workspace).id,
        since=parse_time(since, "--since"),
        until=parse_time(until, "--until"),
    )
    return scope, open_warehouse(settings_for(data_dir))


def run(data_dir: Path | None, workspace: str | None, analysis: Callable[[Warehouse, str], T]) -> T:
    """Run one analysis against the workspace's warehouse, closing it afterwards."""
    from wayline.analytics.warehouse import open_warehouse

    workspace_id = workspace_of(data_dir, workspace).id
    warehouse = open_warehouse(settings_for(data_dir))
    try:
        return analysis(warehouse, workspace_id)
    finally:
        warehouse.close()


def limited(expr: Any, limit: int | None) -> Any:
    return expr if limit is None else expr.limit(limit)


def stream(
    data_dir: Path | None,
    workspace: str | None,
    build: Callable[[Warehouse, str], Any],
    as_json: bool,
) -> None:
    """Write a long result (a customer list) as it comes out of the warehouse, batch by
    batch: a JSON array or CSV, never the whole list in memory."""

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
                    writer = csv.DictWriter(
                        out, fieldnames=list(batch.schema.names), lineterminator="\n"
                    )
                    writer.writeheader()
                writer.writerows(rows)
        if as_json:
            out.write("]\n")
        elif writer is None:
            csv.writer(out, lineterminator="\n").writerow(expr.columns)

    run(data_dir, workspace, write)


def members(
    data_dir: Path | None, workspace: str | None, segment_ids: tuple[str, ...] | None
) -> pa.Table | None:
    """The segments' members, for a segment breakdown (``None``: not one)."""
    if segment_ids is None:
        return None
    from wayline.analytics.segment_members import segment_members
    from wayline.store.sql import SqlStore

    store = open_existing(settings_for(data_dir))
    try:
        assert isinstance(store, SqlStore)
        return segment_members(store, choose_workspace(store, workspace).id, segment_ids)
    finally:
        store.close()
