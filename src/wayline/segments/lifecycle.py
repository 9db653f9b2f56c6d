"""Applying segments (new ones fill from history before they go live; an edit re-evaluates
members and announces who entered and who left) and evaluating them afresh for an audit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from wayline.clock import Clock
from wayline.segments.evaluate import Facts, evaluate
from wayline.segments.membership import Membership, dependents, in_order
from wayline.segments.spec import Segment, event_names, uses_journeys, uses_stages
from wayline.segments.store import SEGMENTS_CONSUMER, SegmentRecord, SegmentStore
from wayline.store.sql import SqlStore

#: Customers evaluated per transaction when a segment fills or is re-evaluated.
CHUNK = 2000


@dataclass(frozen=True, kw_only=True)
class Applied:
    segment_id: str
    version: int
    #: created | changed | unchanged
    state: str


def apply_segments(
    store: SqlStore, clock: Clock, workspace_id: str, segments: Sequence[Segment]
) -> list[Applied]:
    """Store the segments and bring their memberships up to date before returning.

    The segment consumer's cursor is held meanwhile, so no event is evaluated against a
    half-applied set of segments.
    """
    membership = Membership(store, clock)
    seg = membership.segments
    now = clock.now()
    with store._write() as conn:
        store._lock_cursor(conn, SEGMENTS_CONSUMER)
        results = [
            Applied(segment_id=s.id, version=v, state=state)
            for s in segments
            for v, state in [seg.save(conn, workspace_id, s, now)]
        ]
        changed = {a.segment_id for a in results if a.state != "unchanged"}
        if changed:
            records = in_order(seg.records(conn, workspace_id))
            scope = dependents(records, changed)
            new = {a.segment_id for a in results if a.state == "created"}
            profiles = seg.profile_ids(conn, workspace_id)
            for start in range(0, len(profiles), CHUNK):
                membership.evaluate(
                    conn,
                    records,
                    workspace_id,
                    profiles[start : start + CHUNK],
                    now,
                    only=scope,
                    quiet=new,
                )
    while membership.announce():
        pass
    return results


def evaluate_afresh(
    store: SqlStore, workspace_id: str, now: datetime, segment_ids: set[str] | None = None
) -> dict[str, set[str]]:
    """Every segment's members computed from history alone, ignoring stored memberships:
    segment id -> profile ids. Nothing is saved."""
    seg = SegmentStore(store)
    with store.engine.connect() as conn:
        records: list[SegmentRecord] = in_order(seg.records(conn, workspace_id))
        names: set[str] = set()
        for r in records:
            names |= event_names(r.segment.where)
        journeys = any(uses_journeys(r.segment.where) for r in records)
        stages = any(uses_stages(r.segment.where) for r in records)
        members: dict[str, set[str]] = {r.segment_id: set() for r in records}
        profiles = seg.profile_ids(conn, workspace_id)
        for start in range(0, len(profiles), CHUNK):
            facts = seg.facts(
                conn,
                workspace_id,
                profiles[start : start + CHUNK],
                names,
                journeys=journeys,
                stages=stages,
            )
            for profile_id, known in facts.items():
                fresh = Facts(
                    traits=known.traits,
                    events=known.events,
                    journeys=known.journeys,
                    stage=known.stage,
                )
                for r in records:
                    if r.segment.is_static:  # the stored list is its truth
                        met = r.segment_id in known.members
                    else:
                        met = evaluate(r.segment.where, fresh, now).met
                    if met:
                        fresh.members.add(r.segment_id)
                        members[r.segment_id].add(profile_id)
    if segment_ids is not None:
        return {k: v for k, v in members.items() if k in segment_ids}
    return members
