"""The identity rules of wayline.profiles, against an in-memory batch."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from wayline.profiles import resolve
from wayline.store.base import IdentityChanges, InboxEvent, Profile

T0 = datetime(2026, 5, 1, tzinfo=UTC)


class MemoryGraph:
    """Profiles and identities held in dicts, applying saved changes like the store does."""

    def __init__(self) -> None:
        self.owners: dict[tuple[str, str, str], str] = {}
        self.profiles: dict[str, Profile] = {}
        self.merged: list[tuple[str, str]] = []
        self._seq = 0
        self.loads = 0
        self.on_save: Callable[[IdentityChanges], None] = lambda _changes: None

    def run(self, *messages: dict[str, Any]) -> None:
        events = []
        for m in messages:
            self._seq += 1
            events.append(
                InboxEvent(
                    seq=self._seq,
                    txid=0,
                    workspace_id=m.pop("ws", "w"),
                    message_id=f"m{self._seq}",
                    type=m["type"],
                    event=m.get("event"),
                    user_id=m.get("userId"),
                    anonymous_id=m.get("anonymousId"),
                    timestamp=m.pop("at", T0 + timedelta(seconds=self._seq)),
                    received_at=T0,
                    payload=orjson.dumps(m),
                )
            )
        resolve(_Batch(self, events))

    def profile_of(self, kind: str, value: str, ws: str = "w") -> Profile:
        return self.profiles[self.owners[(ws, kind, value)]]


class _Batch:
    def __init__(self, graph: MemoryGraph, events: Sequence[InboxEvent]) -> None:
        self.graph = graph
        self.events = events

    def identities(self, keys: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
        return {k: self.graph.owners[k] for k in keys if k in self.graph.owners}

    def profiles(self, ids: set[str]) -> dict[str, Profile]:
        if ids:
            self.graph.loads += 1
        return {i: copy.deepcopy(self.graph.profiles[i]) for i in ids}

    def user_profiles(self, ids: set[str]) -> set[str]:
        return {o for k, o in self.graph.owners.items() if k[1] == "user_id" and o in ids}

    def save(self, changes: IdentityChanges) -> None:
        g = self.graph
        g.on_save(changes)
        for m in changes.merges:
            for k, o in list(g.owners.items()):
                if o == m.from_profile_id:
                    g.owners[k] = m.into_profile_id
            g.profiles.pop(m.from_profile_id, None)
            g.merged.append((m.from_profile_id, m.into_profile_id))
        for p in changes.profiles:
            g.profiles[p.id] = p
        for i in changes.identities:
            g.owners[(i.workspace_id, i.kind.value, i.value)] = i.profile_id


def test_identify_links_anonymous_history_to_the_user() -> None:
    g = MemoryGraph()
    g.run({"type": "page", "anonymousId": "a1"})
    g.run({"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"plan": "pro"}})
    assert len(g.profiles) == 1
    assert g.profile_of("anonymous_id", "a1") is g.profile_of("user_id", "u1")
    assert g.profile_of("user_id", "u1").traits == {"plan": "pro"}


def test_two_existing_profiles_merge_into_the_users() -> None:
    g = MemoryGraph()
    g.run({"type": "identify", "userId": "u1", "traits": {"plan": "free", "name": "Ann"}})
    g.run({"type": "identify", "anonymousId": "a1", "traits": {"plan": "pro"}})
    user_profile = g.profile_of("user_id", "u1").id
    g.run({"type": "track", "userId": "u1", "anonymousId": "a1", "event": "Signed In"})
    assert list(g.profiles) == [user_profile]
    # the anonymous profile's plan was set later, so it wins; name is kept
    assert g.profiles[user_profile].traits == {"plan": "pro", "name": "Ann"}


def test_older_trait_does_not_overwrite_newer() -> None:
    g = MemoryGraph()
    g.run(
        {"type": "identify", "userId": "u", "traits": {"plan": "pro"}, "at": T0 + timedelta(days=2)}
    )
    g.run(
        {
            "type": "identify",
            "userId": "u",
            "traits": {"plan": "free", "city": "Oslo"},
            "at": T0 + timedelta(days=1),
        }
    )
    assert g.profile_of("user_id", "u").traits == {"plan": "pro", "city": "Oslo"}


def test_anonymous_id_of_another_user_does_not_merge() -> None:
    g = MemoryGraph()
    g.run({"type": "identify", "userId": "alice", "anonymousId": "shared-device"})
    g.run({"type": "identify", "userId": "bob", "anonymousId": "shared-device"})
    assert len(g.profiles) == 2
    assert g.profile_of("anonymous_id", "shared-device") is g.profile_of("user_id", "alice")


def test_alias_merges_even_two_users() -> None:
    g = MemoryGraph()
    g.run({"type": "identify", "userId": "old-id", "traits": {"a": 1}})
    g.run({"type": "identify", "userId": "new-id", "traits": {"b": 2}})
    g.run({"type": "alias", "userId": "new-id", "previousId": "old-id"})
    assert len(g.profiles) == 1
    assert g.profile_of("user_id", "old-id") is g.profile_of("user_id", "new-id")
    assert g.profile_of("user_id", "new-id").traits == {"a": 1, "b": 2}


def test_alias_of_an_unknown_previous_id_links_it() -> None:
    g = MemoryGraph()
    g.run({"type": "alias", "userId": "u", "previousId": "anon-x"})
    g.run({"type": "track", "anonymousId": "anon-x", "event": "E"})
    assert len(g.profiles) == 1


def test_email_and_phone_are_external_ids_not_merge_keys() -> None:
    g = MemoryGraph()
    g.run(
        {"type": "identify", "userId": "u1", "traits": {"email": "A@X.com", "phone": "+1 555 0100"}}
    )
    g.run({"type": "identify", "userId": "u2", "traits": {"email": "a@x.com"}})
    assert len(g.profiles) == 2
    assert g.profile_of("email", "a@x.com") is g.profile_of("user_id", "u2")
    assert g.profile_of("phone", "+15550100") is g.profile_of("user_id", "u1")


def test_workspaces_never_share_identities() -> None:
    g = MemoryGraph()
    g.run(
        {"type": "identify", "userId": "u", "ws": "w1"},
        {"type": "identify", "userId": "u", "ws": "w2"},
    )
    assert len(g.profiles) == 2


def test_context_traits_count_as_traits() -> None:
    g = MemoryGraph()
    g.run({"type": "track", "userId": "u", "event": "E", "context": {"traits": {"tier": "gold"}}})
    assert g.profile_of("user_id", "u").traits == {"tier": "gold"}


def test_plain_events_of_known_customers_write_nothing() -> None:
    g = MemoryGraph()
    g.run({"type": "identify", "userId": "u", "anonymousId": "a", "traits": {"plan": "pro"}})
    saved: list[IdentityChanges] = []
    g.on_save = saved.append
    loads_before = g.loads
    g.run(
        {"type": "track", "userId": "u", "anonymousId": "a", "event": "E"},
        {"type": "page", "anonymousId": "a"},
    )
    assert saved[0].profiles == []
    assert saved[0].identities == []
    assert g.loads == loads_before  # no profile was read either


def test_only_an_email_address_is_an_email_identity() -> None:
    g = MemoryGraph()
    for i, text in enumerate(["n/a @ none", "@", "a@b", "two@x.com, three@y.com", "<a@x.com>"]):
        g.run({"type": "identify", "userId": f"u{i}", "traits": {"email": text}})
    g.run({"type": "identify", "userId": "ok", "traits": {"email": " Ann@Example.COM "}})
    assert {kind for (_ws, kind, _value) in g.owners} == {"user_id", "email"}
    assert [value for (_ws, kind, value) in g.owners if kind == "email"] == ["ann@example.com"]
