"""A small world for stage tests: a workspace, a manual clock and the loops of a process
(profiles, segments, stages, journeys) run to rest after each event."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from wayline.events import parse_message
from wayline.segments.lifecycle import apply_segments
from wayline.segments.loading import read_segment_text
from wayline.segments.store import SegmentStore
from wayline.stages.store import StageStore
from wayline.store import schema
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock, TimeMachine

MODEL = """\
stages:
  - name: awareness
    events: [Page Viewed]
  - name: consideration
    events: [Product Viewed]
  - name: decision
    events: [Checkout Started]
  - name: purchase
    events:
      - event: Order Completed
        where: {total: {gt: 0}}
  - name: retention
    events:
      - event: Order Completed
        where: {total: {gt: 0}}
        occurrence: 2
  - name: advocacy
    traits: {nps_group: promoter}
    stall_after: 30d
stall_factor: 3
"""


@dataclass
class World:
    store: SqlStore
    clock: ManualClock
    machine: TimeMachine
    workspace: str
    ids: Iterator[int] = field(default_factory=itertools.count)

    def send(self, message: dict[str, Any], *, settle: bool = True) -> None:
        message = {"messageId": f"m{next(self.ids)}", **message}
        message.setdefault("timestamp", self.clock.now().isoformat())
        self.store.append_events(
            self.workspace, [parse_message(message, received_at=self.clock.now())]
        )
        if settle:
            self.machine.settle()

    def track(self, user: str, event: str, *, settle: bool = True, **properties: Any) -> None:
        self.send(
            {"type": "track", "userId": user, "event": event, "properties": properties},
            settle=settle,
        )

    def identify(self, user: str, **traits: Any) -> None:
        self.send({"type": "identify", "userId": user, "traits": traits})

    def stage(self, user: str) -> str | None:
        profile = self.store.find_profile(self.workspace, user)
        assert profile is not None
        place = StageStore(self.store).place(self.workspace, profile.profile.id)
        return None if place is None else place.stage

    def announced(self) -> list[tuple[str, str, str | None, float | None, datetime]]:
        """(userId, stage, previous_stage, previous_stage_duration, timestamp) of every
        Stage Entered event in the inbox, in order."""
        t = schema.inbox
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.c.user_id, t.c.timestamp, t.c.payload)
                .where(t.c.event == "Stage Entered")
                .order_by(t.c.seq)
            ).all()
        out = []
        for r in rows:
            p = orjson.loads(r.payload)["properties"]
            at = (
                r.timestamp
                if r.timestamp.tzinfo
                else r.timestamp.replace(tzinfo=self.clock.now().tzinfo)
            )
            out.append(
                (r.user_id, p["stage"], p["previous_stage"], p["previous_stage_duration"], at)
            )
        return out

    def apply_segments(self, *texts: str) -> None:
        segments = [read_segment_text(t).segment for t in texts]
        apply_segments(self.store, self.clock, self.workspace, segments)
        self.machine.settle()

    def members(self, segment_id: str) -> set[str]:
        seg = SegmentStore(self.store)
        rows = seg.members(self.workspace, segment_id, limit=10_000)
        with self.store.engine.connect() as conn:
            senders = seg.senders(conn, {p for p, _ in rows})
        return {senders[p][0] or "" for p, _ in rows}

    def user_of(self, profile_id: str) -> str:
        with self.store.engine.connect() as conn:
            return SegmentStore(self.store).senders(conn, {profile_id})[profile_id][0] or ""

    def segment_events(self) -> list[tuple[str, str, str, datetime]]:
        """(event, userId, segment_id, timestamp) of every segment event in the inbox."""
        t = schema.inbox
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.c.event, t.c.user_id, t.c.timestamp, t.c.payload)
                .where(t.c.event.in_(["Segment Entered", "Segment Exited"]))
                .order_by(t.c.seq)
            ).all()
        return [
            (
                r.event,
                r.user_id,
                orjson.loads(r.payload)["properties"]["segment_id"],
                _utc(r.timestamp),
            )
            for r in rows
        ]


def _utc(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)
