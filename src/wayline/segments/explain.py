"""Why a customer is, or is not, a member of a segment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from wayline.segments.evaluate import evaluate, explain, failed
from wayline.segments.membership import in_order
from wayline.segments.spec import event_names
from wayline.segments.store import SegmentStore
from wayline.store.sql import SqlStore


def explain_member(
    store: SqlStore, workspace_id: str, segment_id: str, profile_id: str, now: datetime
) -> dict[str, Any] | None:
    """``member`` (stored, real-time), ``met`` (evaluated now), the condition tree with the
    result at each condition, and the conditions that decided it. ``None``: no segment."""
    seg = SegmentStore(store)
    with store.engine.connect() as conn:
        records = in_order(seg.records(conn, workspace_id))
        record = next((r for r in records if r.segment_id == segment_id), None)
        if record is None:
            return None
        names: set[str] = set()
        for r in records:
            names |= event_names(r.segment.where)
        facts = seg.facts(conn, workspace_id, [profile_id], names, journeys=True, stages=True).get(
            profile_id
        )
    if facts is None:
        return {
            "profile_id": profile_id,
            "member": False,
            "met": False,
            "reason": "no such customer",
        }
    entered = seg.membership(workspace_id, segment_id, profile_id)
    if record.segment.is_static:
        # a fixed list: membership is the answer, there is no condition to explain
        return {
            "profile_id": profile_id,
            "segment_id": segment_id,
            "member": entered is not None,
            "entered_at": entered.isoformat() if entered else None,
            "met": entered is not None,
            "static": True,
            "decided_by": [],
            "conditions": None,
        }
    tree = explain(record.segment.where, facts, now)
    met = evaluate(record.segment.where, facts, now).met
    return {
        "profile_id": profile_id,
        "segment_id": segment_id,
        "member": entered is not None,
        "entered_at": entered.isoformat() if entered else None,
        "met": met,
        "decided_by": failed(tree) if not met else [],
        "conditions": tree,
    }
