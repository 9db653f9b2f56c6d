"""Everything the state store holds about one customer, as JSON (GDPR access, Art. 15).

The profile and its identities, every event of the customer (their own and those Wayline
recorded: ``Message Sent``, ``Email Opened``, …), every message with its status history,
every journey instance with its context and trace, enrolments, subscriptions, merges of
other profiles into this one, the segments they are in, and whether their addresses are on
the suppression list.
Read in one transaction, so that the parts agree with each other.
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline import consent
from wayline.store import schema, suppressions
from wayline.store.messages import profile_messages
from wayline.store.profiles import event_filter
from wayline.store.sql import SqlStore

#: The export's format; bumped when a part changes shape.
FORMAT = 1


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _json_text(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def export_customer(store: SqlStore, workspace_id: str, profile_id: str) -> dict[str, Any] | None:
    """The customer's data, or None when there is no such profile in the workspace."""
    view = store.find_profile(workspace_id, profile_id)
    if view is None or view.profile.id != profile_id:
        return None
    p = view.profile
    with store.engine.connect() as conn:
        ids = [(i.kind.value, i.value) for i in view.identities]
        events = [
            orjson.loads(bytes(row.payload))
            for row in conn.execute(
                sa.select(schema.inbox.c.payload)
                .where(event_filter(workspace_id, ids))
                .order_by(schema.inbox.c.timestamp, schema.inbox.c.seq)
            )
        ]
        journeys = _journeys(conn, workspace_id, profile_id)
        subscriptions = consent.subscriptions(conn, workspace_id, profile_id)
        merges = [
            {"from_profile_id": r.from_profile_id, "merged_at": r.merged_at.isoformat()}
            for r in conn.execute(
                sa.select(schema.profile_merges).where(
                    schema.profile_merges.c.workspace_id == workspace_id,
                    schema.profile_merges.c.into_profile_id == profile_id,
                )
            )
        ]
        suppressed = _suppressions(conn, workspace_id, profile_id, ids)
        m = schema.segment_members
        segments = [
            {"segment_id": r.segment_id, "entered_at": r.entered_at.isoformat()}
            for r in conn.execute(
                sa.select(m.c.segment_id, m.c.entered_at)
                .where(m.c.workspace_id == workspace_id, m.c.profile_id == profile_id)
                .order_by(m.c.segment_id)
            )
        ]
    messages = profile_messages(store, workspace_id, profile_id, limit=1_000_000)
    payloads = _message_payloads(store, workspace_id, profile_id)
    for message in messages:
        message["content"] = payloads.get(message["id"])
    return {
        "format": FORMAT,
        "workspace_id": workspace_id,
        "exported_at": store.clock.now().isoformat(),
        "profile": {
            "id": p.id,
            "traits": p.traits,
            "created_at": p.created_at.isoformat(),
            "updated_at": p.updated_at.isoformat(),
            "first_seen": _iso(view.first_seen),
            "last_seen": _iso(view.last_seen),
        },
        "identities": [{"kind": i.kind.value, "value": i.value} for i in view.identities],
        "merged_profiles": merges,
        "events": events,
        "messages": messages,
        "journeys": journeys,
        "subscriptions": subscriptions,
        "suppressions": suppressed,
        "segments": segments,
    }


def _message_payloads(store: SqlStore, workspace_id: str, profile_id: str) -> dict[int, Any]:
    """What each message was queued with (template, topic, the data it was rendered from)
    and what the channel answered."""
    o = schema.outbox
    with store.engine.connect() as conn:
        return {
            r.id: {"payload": _json_text(r.payload), "result": _json_text(r.result)}
            for r in conn.execute(
                sa.select(o.c.id, o.c.payload, o.c.result).where(
                    o.c.workspace_id == workspace_id, o.c.profile_id == profile_id
                )
            )
        }


def _journeys(conn: Connection, workspace_id: str, profile_id: str) -> list[dict[str, Any]]:
    i, s, e = schema.journey_instances, schema.journey_steps, schema.journey_enrolments
    steps: dict[int, list[dict[str, Any]]] = {}
    for r in conn.execute(
        sa.select(s)
        .where(s.c.workspace_id == workspace_id, s.c.profile_id == profile_id)
        .order_by(s.c.at, s.c.id)
    ):
        steps.setdefault(r.instance_id, []).append(
            {"node": r.node, "kind": r.kind, "reason": r.reason, "at": r.at.isoformat()}
        )
    enrolments = {
        (r.journey_id, r.entry_key): {
            "entries": r.entries,
            "last_entered_at": r.last_entered_at.isoformat(),
        }
        for r in conn.execute(
            sa.select(e).where(e.c.workspace_id == workspace_id, e.c.profile_id == profile_id)
        )
    }
    found = []
    for r in conn.execute(
        sa.select(i)
        .where(i.c.workspace_id == workspace_id, i.c.profile_id == profile_id)
        .order_by(i.c.entered_at, i.c.id)
    ):
        found.append(
            {
                "instance_id": r.id,
                "journey_id": r.journey_id,
                "version": r.version,
                "entry_key": r.entry_key,
                "node": r.node,
                "state": r.state,
                "outcome": r.outcome,
                "context": _json_text(r.context),
                "entered_at": r.entered_at.isoformat(),
                "updated_at": r.updated_at.isoformat(),
                "enrolment": enrolments.get((r.journey_id, r.entry_key)),
                "trace": steps.get(r.id, []),
            }
        )
    return found


def _suppressions(
    conn: Connection, workspace_id: str, profile_id: str, ids: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    addresses = {("email" if k == "email" else "sms", v) for k, v in ids if k in ("email", "phone")}
    for channel in suppressions.CHANNELS:
        found = consent.recipient(conn, profile_id, channel)
        if found is not None:
            addresses.add((channel, found))
    rows = []
    for channel, address in sorted(addresses):
        hit = suppressions.find(conn, workspace_id, channel, address)
        if hit is not None:
            rows.append({**hit.to_json(), "address": address})
    return rows
