"""A fresh warehouse of each kind (a DuckDB file, a PostgreSQL database) and a way to
fill it with a hand-written event log."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wayline.analytics.fields import Scope
from wayline.analytics.warehouse import EVENT_COLUMNS, Warehouse
from wayline.store.base import Cursor

WORKSPACE = "ws_test"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def scope() -> Scope:
    return Scope(workspace_id=WORKSPACE)


def ev(
    user: str,
    event: str,
    at: timedelta | datetime,
    properties: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One track event; ``at`` is a time or an offset from :data:`T0`."""
    return {
        "user": user,
        "event": event,
        "at": at if isinstance(at, datetime) else T0 + at,
        "properties": properties,
        "context": context,
    }


def load(
    warehouse: Warehouse, events: Sequence[dict[str, Any]], workspace: str = WORKSPACE
) -> None:
    """Put these events into the warehouse, in order (``seq`` follows the list)."""
    columns: dict[str, list[Any]] = {c: [] for c in EVENT_COLUMNS}
    start = warehouse.cursor().seq
    for i, e in enumerate(events, start=start + 1):
        row = {
            "workspace_id": workspace,
            "seq": i,
            "message_id": f"m{i}",
            "type": "track",
            "event": e["event"],
            "user_id": e["user"],
            "anonymous_id": None,
            "timestamp": e["at"],
            "received_at": e["at"],
            "properties": json.dumps(e["properties"]) if e["properties"] is not None else None,
            "context": json.dumps(e["context"]) if e["context"] is not None else None,
            "traits": None,
            "payload": "{}",
        }
        for k, v in row.items():
            columns[k].append(v)
    with warehouse.load() as batch:
        batch.append(columns, Cursor(txid=1, seq=start + len(events)))
