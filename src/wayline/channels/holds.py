"""Send-time controls: the workspace's quiet hours and frequency caps, checked again when a
message that waited in the outbox (retries, a backlog) is about to go out.

The journey worker applies them when it queues a message (``wayline.engine.controls``);
by the time the dispatcher takes the message, the customer's quiet hours may have started
or other messages may have reached them. A message in quiet hours is postponed to their
end, or dropped when the rule says ``action: drop``; a message over a frequency cap is
dropped. A cap counts the customer's other messages queued within its period, not the
message itself. Transactional messages are exempt, as at queue time, and so are the
outbox rows that only record a profile change.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.engine.timing import WEEKDAYS, next_window, zone_for
from wayline.journeys.controls import ALL, Controls, covers
from wayline.store import schema
from wayline.store.controls import RECORD_CHANNEL, controls_of
from wayline.store.outbox import OutboxMessage
from wayline.store.profiles import traits_of


@functools.lru_cache(maxsize=256)
def _parse(spec: str) -> Controls:
    """Stored controls were validated when applied; parsed once per distinct text."""
    return Controls.model_validate_json(spec)


#: No controls.
NONE = Controls()


@dataclass(frozen=True, kw_only=True, slots=True)
class Hold:
    """Why a message does not go out now: postponed ``until`` a time, or dropped (None)."""

    reason: str
    until: datetime | None = None


def reviewed(message: OutboxMessage) -> bool:
    """Whether the controls apply to the message: a journey's marketing message to a
    customer."""
    return (
        message.journey_id is not None
        and message.profile_id is not None
        and message.channel != RECORD_CHANNEL
        and not message.payload.get("transactional", False)
    )


def review(
    conn: Connection,
    messages: Sequence[OutboxMessage],
    now: datetime,
    workspace_zones: dict[str, str],
) -> dict[int, Hold]:
    """The messages of the batch held back by their workspace's controls, by message id.
    ``workspace_zones``: each workspace's time zone."""
    wanted = [m for m in messages if reviewed(m)]
    if not wanted:
        return {}
    stored = controls_of(conn, {m.workspace_id for m in wanted})
    if not stored:
        return {}
    controls = {ws: _parse(spec) for ws, spec in stored.items()}
    quiet = [m for m in wanted if controls.get(m.workspace_id, NONE).quiet_hours]
    traits = traits_of(conn, {m.profile_id or "" for m in quiet}) if quiet else {}
    holds: dict[int, Hold] = {}
    for m in wanted:
        found = controls.get(m.workspace_id, NONE)
        zone = workspace_zones.get(m.workspace_id, "UTC")
        hold = _quiet(found, m, now, traits.get(m.profile_id or "", {}), zone)
        hold = hold or _caps(conn, found, m, now)
        if hold is not None:
            holds[m.id] = hold
    return holds


def _quiet(
    controls: Controls,
    message: OutboxMessage,
    now: datetime,
    traits: dict[str, object],
    workspace_zone: str,
) -> Hold | None:
    for rule in controls.quiet_hours:
        if not any(covers(c, message.channel) for c in rule.channels):
            continue
        zone = zone_for(rule.timezone, dict(traits), workspace_zone)
        resumes = next_window(now, WEEKDAYS, rule.to, rule.from_, zone)
        if resumes <= now:
            continue
        if rule.action == "drop":
            return Hold(reason=f"quiet hours {rule.span()} {zone.key}")
        local = resumes.astimezone(zone)
        return Hold(
            reason=f"quiet hours {rule.span()} {zone.key}, until {local:%Y-%m-%dT%H:%M}",
            until=resumes,
        )
    return None


def _caps(
    conn: Connection, controls: Controls, message: OutboxMessage, now: datetime
) -> Hold | None:
    for cap in controls.frequency_caps:
        if not covers(cap.channel, message.channel):
            continue
        channel = None if cap.channel == ALL else cap.channel
        if others(conn, message, channel, now - cap.per) >= cap.limit:
            return Hold(reason=f"frequency cap {cap}")
    return None


def others(conn: Connection, message: OutboxMessage, channel: str | None, since: datetime) -> int:
    """The customer's other marketing messages queued after ``since`` on ``channel`` (every
    channel but webhook when None), as the queue-time cap counts them, this one left out."""
    o = schema.outbox
    where = [
        o.c.workspace_id == message.workspace_id,
        o.c.profile_id == message.profile_id,
        o.c.created_at > since,
        o.c.transactional == sa.false(),
        o.c.id != message.id,
    ]
    where.append(o.c.channel == channel if channel is not None else o.c.channel != "webhook")
    return int(conn.scalar(sa.select(sa.func.count()).select_from(o).where(*where)) or 0)
