from __future__ import annotations

from datetime import timedelta

import pytest

from tests.polling import wait_until
from wayline.errors import ConsumerConflict
from wayline.events import parse_message
from wayline.profiles import resolve
from wayline.store import Store
from wayline.store.base import Cursor
from wayline.testing import ManualClock, drain_profiles


def _row(clock: ManualClock, message_id: str, **fields: object) -> object:
    raw = {"type": "track", "event": "Tick", "messageId": message_id, **fields}
    return parse_message(raw, received_at=clock.now())


def test_append_dedupes_message_ids(store: Store, clock: ManualClock) -> None:
    ws = store.create_workspace("a").workspace.id
    rows = [_row(clock, f"m{i}", userId="u1") for i in range(5)]
    assert store.append_events(ws, rows) == 5  # type: ignore[arg-type]
    assert store.append_events(ws, [*rows[:3], _row(clock, "m9", userId="u1")]) == 1  # type: ignore[list-item]
    assert store.stats(ws).events == 6
    assert store.inbox_after(Cursor()) == 6
    # PostgreSQL: visible once older transactions of the cluster end
    wait_until(
        lambda: len(store.read_inbox(Cursor(), 100)) == 6,
        what="the six events to be readable from the inbox",
    )
    events = store.read_inbox(Cursor(), 100)
    assert [e.message_id for e in events] == [
        "m0",
        "m1",
        "m2",
        "m3",
        "m4",
        "m9",
    ]


def test_same_message_id_in_two_workspaces_is_two_events(store: Store, clock: ManualClock) -> None:
    a = store.create_workspace("a").workspace.id
    b = store.create_workspace("b").workspace.id
    assert store.append_events(a, [_row(clock, "m1", userId="u")]) == 1  # type: ignore[list-item]
    assert store.append_events(b, [_row(clock, "m1", userId="u")]) == 1  # type: ignore[list-item]
    assert store.stats(a).events == 1
    assert store.stats(b).events == 1


def test_identify_then_track_builds_one_profile(store: Store, clock: ManualClock) -> None:
    ws = store.create_workspace("a").workspace.id
    store.append_events(
        ws,
        [
            _row(clock, "p1", type="page", anonymousId="anon-1"),  # type: ignore[list-item]
            parse_message(
                {
                    "type": "identify",
                    "userId": "u1",
                    "anonymousId": "anon-1",
                    "traits": {"email": "Ann@Example.com", "plan": "pro"},
                    "messageId": "i1",
                },
                received_at=clock.advance(seconds=1),
            ),
            _row(clock, "t1", userId="u1"),  # type: ignore[list-item]
        ],
    )
    drain_profiles(store)
    assert store.stats(ws).profiles == 1
    by_anon = store.find_profile(ws, "anon-1")
    by_email = store.find_profile(ws, "ann@example.com")
    assert by_anon is not None
    assert by_email is not None
    assert by_anon.profile.id == by_email.profile.id
    assert by_anon.profile.traits == {"email": "Ann@Example.com", "plan": "pro"}
    assert {(i.kind.value, i.value) for i in by_anon.identities} == {
        ("user_id", "u1"),
        ("anonymous_id", "anon-1"),
        ("email", "ann@example.com"),
    }
    timeline = store.profile_events(ws, by_anon.profile.id, limit=10)
    assert [e.message_id for e in timeline] == ["t1", "i1", "p1"]


def test_alias_merges_two_profiles_and_their_events(store: Store, clock: ManualClock) -> None:
    ws = store.create_workspace("a").workspace.id
    store.append_events(
        ws,
        [
            _row(clock, "a1", anonymousId="anon-2"),  # type: ignore[list-item]
            parse_message(
                {"type": "identify", "userId": "u2", "traits": {"plan": "free"}, "messageId": "i2"},
                received_at=clock.now(),
            ),
        ],
    )
    drain_profiles(store)
    assert store.stats(ws).profiles == 2
    store.append_events(
        ws,
        [
            parse_message(
                {"type": "alias", "previousId": "anon-2", "userId": "u2", "messageId": "al"},
                received_at=clock.advance(timedelta(seconds=5)),
            )
        ],
    )
    drain_profiles(store)
    assert store.stats(ws).profiles == 1
    view = store.find_profile(ws, "anon-2")
    assert view is not None
    assert {i.value for i in view.identities} == {"anon-2", "u2"}
    assert {e.message_id for e in store.profile_events(ws, view.profile.id, limit=10)} == {
        "a1",
        "i2",
        "al",
    }


def test_erase_removes_profile_identities_and_events(store: Store, clock: ManualClock) -> None:
    ws = store.create_workspace("a").workspace.id
    store.append_events(
        ws,
        [
            parse_message(
                {
                    "type": "identify",
                    "userId": "gone",
                    "anonymousId": "anon-g",
                    "traits": {"email": "g@example.com"},
                    "messageId": "g1",
                },
                received_at=clock.now(),
            ),
            _row(clock, "g2", anonymousId="anon-g"),  # type: ignore[list-item]
            _row(clock, "k1", userId="kept"),  # type: ignore[list-item]
        ],
    )
    drain_profiles(store)
    view = store.find_profile(ws, "g@example.com")
    assert view is not None
    report = store.erase_profile(ws, view.profile.id)
    assert report.events == 2
    assert len(report.identities) == 3
    assert store.find_profile(ws, "gone") is None
    assert store.find_profile(ws, "kept") is not None
    assert store.stats(ws).events == 1
    assert store.stats(ws).profiles == 1
    assert [e.identities for e in store.pending_erasures()] == [report.identities]


def test_erase_during_a_consumer_batch_does_not_bring_the_profile_back(
    store: Store, clock: ManualClock
) -> None:
    ws = store.create_workspace("a").workspace.id
    identify = {"type": "identify", "userId": "u1", "anonymousId": "a1"}
    store.append_events(
        ws,
        [
            parse_message(
                {**identify, "traits": {"plan": "free"}, "messageId": "i1"}, received_at=clock.now()
            )
        ],
    )
    drain_profiles(store)
    view = store.find_profile(ws, "u1")
    assert view is not None
    store.append_events(
        ws,
        [
            parse_message(
                {**identify, "traits": {"plan": "pro"}, "messageId": "i2"}, received_at=clock.now()
            )
        ],
    )
    # PostgreSQL: wait until the consumer can see the new event
    wait_until(
        lambda: store.read_inbox(Cursor(seq=0, txid=0), 10)[-1].message_id == "i2",
        what="the second identify to be readable from the inbox",
    )
    with store.identity_batch(100) as batch:
        assert [e.message_id for e in batch.events] == ["i2"]
        store.erase_profile(ws, view.profile.id)
        with pytest.raises(ConsumerConflict):
            resolve(batch)
    drain_profiles(store)
    assert store.find_profile(ws, "u1") is None
    assert store.find_profile(ws, "a1") is None
    assert store.stats(ws).profiles == 0
