"""A fresh warehouse of each kind (DuckDB file, PostgreSQL database) with hand-written logs.

Events go in through the loader's own write path (:meth:`Warehouse.load`), so the analyses
read exactly the rows ``wayline serve`` would have loaded.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from wayline.analytics.warehouse import Warehouse
from wayline.store.base import Cursor

WS = "ws1"
#: Monday 2026-01-05 00:00 UTC: the hand-written logs count time from here.
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def at(minutes: float = 0, *, days: float = 0, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours, minutes=minutes)


_seq = itertools.count(1)


def ev(
    customer: str,
    event: str | None,
    when: datetime,
    *,
    type: str = "track",
    properties: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    traits: dict[str, Any] | None = None,
    anonymous: bool = False,
) -> dict[str, Any]:
    seq = next(_seq)
    return {
        "workspace_id": WS,
        "seq": seq,
        "message_id": f"m{seq}",
        "type": type,
        "event": event,
        "user_id": None if anonymous else customer,
        "anonymous_id": customer if anonymous else None,
        "timestamp": when,
        "received_at": when,
        "properties": orjson.dumps(properties).decode() if properties is not None else None,
        "context": orjson.dumps(context).decode() if context is not None else None,
        "traits": orjson.dumps(traits).decode() if traits is not None else None,
        "payload": "{}",
    }


def identify(customer: str, when: datetime, **traits: Any) -> dict[str, Any]:
    return ev(customer, None, when, type="identify", traits=traits)


def write(warehouse: Warehouse, *rows: dict[str, Any], workspace_id: str = WS) -> None:
    rows_ = [{**r, "workspace_id": workspace_id} for r in rows]
    columns = {name: [r[name] for r in rows_] for name in rows_[0]}
    with warehouse.load() as batch:
        batch.append(columns, Cursor(txid=1, seq=max(r["seq"] for r in rows_)))
