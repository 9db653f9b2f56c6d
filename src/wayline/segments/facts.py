"""The facts a customer's memberships are evaluated from: traits, the events the
workspace's segments look at, memberships, and (when asked) journeys and stage."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.segments.evaluate import Facts, Happening
from wayline.segments.histories import Histories, History
from wayline.stages.store import stage_places
from wayline.store import schema


def read_facts(
    conn: Connection,
    workspace_id: str,
    profile_ids: Sequence[str],
    names: set[str],
    filtered: set[str] | None = None,
    *,
    journeys: bool = False,
    stages: bool = False,
    histories: Histories | None = None,
) -> dict[str, Facts]:
    """Traits, the events named ``names`` and memberships of each existing profile.

    The message of an event is read only when its name is in ``filtered`` (a ``where``
    filter looks into it); ``None``: always. With ``histories``, the events of a kept
    history are not read again, and the histories read are kept (with every name the
    workspace's segments look at)."""
    found: dict[str, Facts] = {}
    p, i, m = schema.profiles, schema.identities, schema.segment_members
    fresh: set[str] = set()
    if histories is not None:
        names = set(histories.names.get(workspace_id, frozenset()))
        filtered = set(histories.filtered.get(workspace_id, frozenset()))
    for start in range(0, len(profile_ids), 500):
        chunk = list(profile_ids[start : start + 500])
        for row in conn.execute(sa.select(p.c.id, p.c.traits).where(p.c.id.in_(chunk))):
            found[row.id] = Facts(traits=orjson.loads(row.traits), events={})
        for row in conn.execute(
            sa.select(m.c.profile_id, m.c.segment_id).where(
                m.c.workspace_id == workspace_id, m.c.profile_id.in_(chunk)
            )
        ):
            if row.profile_id in found:
                found[row.profile_id].members.add(row.segment_id)
        if journeys:
            for profile_id, nodes in journey_places(conn, workspace_id, chunk).items():
                if profile_id in found:
                    found[profile_id].journeys = nodes
        if stages:
            for profile_id, place in stage_places(conn, workspace_id, chunk).items():
                if profile_id in found:
                    found[profile_id].stage = place
        if not names:
            continue
        if histories is not None:
            unread = []
            for profile_id in chunk:
                kept = histories.get(workspace_id, profile_id)
                if profile_id not in found:
                    continue
                if kept is None:
                    unread.append(profile_id)
                else:
                    found[profile_id].events = kept.events
            chunk = unread
            fresh.update(chunk)
            if not chunk:
                continue
        users: dict[str, str] = {}
        anonymous: dict[str, str] = {}
        for kind, value, owner in conn.execute(
            sa.select(i.c.kind, i.c.value, i.c.profile_id).where(
                i.c.profile_id.in_(chunk),
                i.c.kind.in_(["user_id", "anonymous_id"]),
            )
        ):
            (users if kind == "user_id" else anonymous)[value] = owner
        _events(conn, workspace_id, users, anonymous, names, filtered, found)
    for profile_id in fresh if histories is not None else found:
        for history in found[profile_id].events.values():
            history.sort(key=lambda e: (e.at, e.seq))
    if histories is not None:
        for profile_id in profile_ids:
            if profile_id not in found:
                histories.drop(workspace_id, profile_id)
        for profile_id in fresh:
            events = found[profile_id].events
            seqs = {e.seq for history in events.values() for e in history}
            histories.keep(workspace_id, profile_id, History(events=events, seqs=seqs))
    return found


def _events(
    conn: Connection,
    workspace_id: str,
    users: dict[str, str],
    anonymous: dict[str, str],
    names: set[str],
    filtered: set[str] | None,
    found: dict[str, Facts],
) -> None:
    t = schema.inbox
    payload: Any = t.c.payload
    if filtered is not None:
        wanted = sorted(filtered & names)
        payload = (
            sa.case((t.c.event.in_(wanted), t.c.payload), else_=sa.null()).label("payload")
            if wanted
            else sa.null().label("payload")
        )
    keys = [(t.c.user_id, list(users)), (t.c.anonymous_id, list(anonymous))]
    seen: set[int] = set()
    for column, values in keys:
        for start in range(0, len(values), 500):
            rows = conn.execute(
                sa.select(
                    t.c.seq,
                    t.c.event,
                    t.c.user_id,
                    t.c.anonymous_id,
                    t.c.timestamp,
                    payload,
                ).where(
                    t.c.workspace_id == workspace_id,
                    t.c.type == "track",
                    t.c.event.in_(sorted(names)),
                    column.in_(values[start : start + 500]),
                )
            )
            for row in rows:
                if row.seq in seen:
                    continue
                seen.add(row.seq)
                owner = users.get(row.user_id or "") or anonymous.get(row.anonymous_id or "")
                if owner is None or owner not in found:
                    continue
                found[owner].events.setdefault(row.event, []).append(
                    Happening(
                        name=row.event,
                        at=row.timestamp,
                        seq=row.seq,
                        raw=bytes(row.payload) if row.payload is not None else b"{}",
                    )
                )


def journey_places(
    conn: Connection, workspace_id: str, profile_ids: Sequence[str]
) -> dict[str, dict[str, set[str]]]:
    """Profile id -> the journeys it is in now -> the nodes it is at."""
    i = schema.journey_instances
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    ordered = list(profile_ids)
    for start in range(0, len(ordered), 500):
        for profile_id, journey_id, node in conn.execute(
            sa.select(i.c.profile_id, i.c.journey_id, i.c.node).where(
                i.c.workspace_id == workspace_id,
                i.c.profile_id.in_(ordered[start : start + 500]),
                i.c.state != "done",
            )
        ):
            found[profile_id][journey_id].add(node)
    return {p: dict(j) for p, j in found.items()}
