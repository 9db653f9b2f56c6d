"""Real-time membership against a batch evaluation of history: any difference, per segment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from wayline.segments.lifecycle import evaluate_afresh
from wayline.segments.store import SegmentStore
from wayline.store.sql import SqlStore

#: (store, workspace, now, segments or None) -> segment id -> member profile ids.
Batch = Callable[[SqlStore, str, datetime, set[str] | None], dict[str, set[str]]]


@dataclass(frozen=True, kw_only=True)
class Difference:
    segment_id: str
    realtime: int
    batch: int
    only_realtime: set[str]
    only_batch: set[str]

    @property
    def agree(self) -> bool:
        return not self.only_realtime and not self.only_batch


def audit(
    store: SqlStore,
    workspace_id: str,
    now: datetime,
    segment_ids: set[str] | None = None,
    batch: Batch = evaluate_afresh,
) -> list[Difference]:
    computed = batch(store, workspace_id, now, segment_ids)
    seg = SegmentStore(store)
    out = []
    with store.engine.connect() as conn:
        for segment_id in sorted(computed):
            live = seg.member_ids(conn, workspace_id, segment_id)
            fresh = computed[segment_id]
            out.append(
                Difference(
                    segment_id=segment_id,
                    realtime=len(live),
                    batch=len(fresh),
                    only_realtime=live - fresh,
                    only_batch=fresh - live,
                )
            )
    return out
