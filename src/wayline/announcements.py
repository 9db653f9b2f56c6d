"""Events Wayline puts on customers' timelines itself (``Segment Entered``, ``Stage
Entered``…): each is appended to the inbox as the customer's own ``track`` call, so journeys,
segments and the warehouse see it like any other event.

A change is announced under a message id derived from its row in the change log, so an
announcement repeated after a crash is dropped as a duplicate by the inbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wayline.clock import Clock
from wayline.events import EventRow, parse_message
from wayline.store.sql import SqlStore


@dataclass(frozen=True, kw_only=True, slots=True)
class Announcement:
    workspace_id: str
    profile_id: str
    event: str
    message_id: str
    at: datetime
    properties: Mapping[str, Any]
    #: ``context.library.name``: which part of Wayline said it.
    library: str


def announce(
    store: SqlStore,
    clock: Clock,
    announcements: Iterable[Announcement],
    senders: Mapping[str, tuple[str | None, str | None]],
) -> None:
    """Append each announcement as a ``track`` of its customer, sent as their userId and
    anonymousId (``senders``: profile id -> both); a customer with neither is gone, and
    nothing is said of them."""
    received = clock.now()
    by_workspace: dict[str, list[EventRow]] = {}
    for a in announcements:
        user_id, anonymous_id = senders.get(a.profile_id, (None, None))
        if user_id is None and anonymous_id is None:
            continue
        message: dict[str, Any] = {
            "type": "track",
            "event": a.event,
            "messageId": a.message_id,
            "timestamp": a.at.isoformat(),
            "properties": dict(a.properties),
            "context": {"library": {"name": a.library}},
        }
        if user_id is not None:
            message["userId"] = user_id
        if anonymous_id is not None:
            message["anonymousId"] = anonymous_id
        by_workspace.setdefault(a.workspace_id, []).append(
            parse_message(message, received_at=received)
        )
    for workspace_id, rows in by_workspace.items():
        store.append_events(workspace_id, rows)
