"""First analytics over the warehouse, each written once in Ibis for every backend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wayline.analytics.warehouse import Warehouse

if TYPE_CHECKING:
    import pyarrow as pa


def events_per_day_expr(events: Any, workspace_id: str) -> Any:
    """Events per call type per day (UTC) of one workspace, as an Ibis expression."""
    mine = events.filter(events.workspace_id == workspace_id)
    return (
        mine.group_by(day=mine.timestamp.date(), type=mine["type"])
        .aggregate(events=mine.count())
        .order_by(["day", "type"])
    )


def events_per_day(warehouse: Warehouse, workspace_id: str) -> pa.Table:
    """Columns ``day`` (date), ``type`` (track, page, …), ``events`` (count), oldest first."""
    return warehouse.execute(events_per_day_expr(warehouse.table("events"), workspace_id))
