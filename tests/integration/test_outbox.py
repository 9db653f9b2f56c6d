"""The outbox on both stores: idempotent adds, leased claims, and claimers that never share
a message."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from wayline.store import Store, schema
from wayline.store.outbox import NewMessage, OutboxState, OutboxStore
from wayline.store.postgres import PostgresStore, normalise_url
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock

LEASE = timedelta(minutes=5)


def _message(key: str, workspace_id: str = "ws", channel: str = "log") -> NewMessage:
    return NewMessage(
        workspace_id=workspace_id, idempotency_key=key, channel=channel, payload={"n": key}
    )


def _add(store: Store, messages: list[NewMessage]) -> int:
    assert isinstance(store, SqlStore)
    outbox = OutboxStore(store)
    with store._write() as conn:
        return outbox.add(conn, messages)


def test_adding_a_message_again_adds_nothing(store: Store) -> None:
    assert _add(store, [_message("a"), _message("b")]) == 2
    assert _add(store, [_message("b"), _message("c")]) == 1
    assert _add(store, [_message("a")]) == 0
    assert OutboxStore(store).pending_count() == 3


def test_an_add_belongs_to_the_callers_transaction(store: Store) -> None:
    assert isinstance(store, SqlStore)
    outbox = OutboxStore(store)

    def failing_step() -> None:
        with store._write() as conn:
            outbox.add(conn, [_message("a")])
            raise RuntimeError("the step failed")

    with pytest.raises(RuntimeError):
        failing_step()
    assert outbox.pending_count() == 0


def test_a_claim_is_a_lease_taken_again_once_it_lapses(store: Store, clock: ManualClock) -> None:
    outbox = OutboxStore(store)
    _add(store, [_message("a"), _message("b")])
    first = outbox.claim(10, LEASE)
    assert [m.idempotency_key for m in first] == ["a", "b"]
    assert all(m.state is OutboxState.SENDING and m.attempts == 1 for m in first)
    assert first[0].payload == {"n": "a"}
    assert outbox.claim(10, LEASE) == []

    clock.advance(LEASE - timedelta(seconds=1))
    assert outbox.claim(10, LEASE) == []
    clock.advance(seconds=2)
    again = outbox.claim(10, LEASE)
    assert [(m.idempotency_key, m.attempts) for m in again] == [("a", 2), ("b", 2)]


def test_a_claim_takes_the_oldest_due_first_and_leaves_the_rest(
    store: Store, clock: ManualClock
) -> None:
    outbox = OutboxStore(store)
    later = clock.now() + timedelta(minutes=1)  # before the claims below lapse
    _add(store, [_message("late")])
    assert isinstance(store, SqlStore)
    with store._write() as conn:
        conn.execute(
            sa.update(schema.outbox)
            .where(schema.outbox.c.idempotency_key == "late")
            .values(next_attempt_at=later)
        )
    _add(store, [_message(f"m{i}") for i in range(5)])
    assert [m.idempotency_key for m in outbox.claim(3, LEASE)] == ["m0", "m1", "m2"]
    assert [m.idempotency_key for m in outbox.claim(3, LEASE)] == ["m3", "m4"]
    clock.set(later)
    assert [m.idempotency_key for m in outbox.claim(3, LEASE)] == ["late"]


def test_outcomes_are_recorded_and_dead_letters_listed(store: Store, clock: ManualClock) -> None:
    outbox = OutboxStore(store)
    _add(store, [_message("ok"), _message("retry"), _message("dead"), _message("other", "ws2")])
    claimed = {m.idempotency_key: m for m in outbox.claim(10, LEASE)}

    assert outbox.mark_sent(claimed["ok"].id, {"status": 200})
    assert not outbox.mark_sent(claimed["ok"].id, {"status": 200})  # once only
    at = clock.now() + timedelta(minutes=1)
    assert outbox.retry_later(claimed["retry"].id, "HTTP 500", at, attempt=1)
    assert outbox.mark_dead(claimed["dead"].id, "HTTP 400: no such cart", attempt=1)
    assert outbox.mark_dead(claimed["other"].id, "elsewhere")

    sent = outbox.get(claimed["ok"].id)
    assert sent is not None
    assert (sent.state, sent.result) == (OutboxState.SENT, {"status": 200})
    retry = outbox.get(claimed["retry"].id)
    assert retry is not None
    assert (retry.state, retry.last_error, retry.next_attempt_at) == (
        OutboxState.PENDING,
        "HTTP 500",
        at,
    )
    dead = outbox.dead_letters("ws")
    assert [(m.idempotency_key, m.last_error) for m in dead] == [("dead", "HTTP 400: no such cart")]
    assert outbox.pending_count() == 1


def test_an_outcome_of_a_lapsed_claim_leaves_the_newer_claim_alone(
    store: Store, clock: ManualClock
) -> None:
    outbox = OutboxStore(store)
    _add(store, [_message("a")])
    (old,) = outbox.claim(1, LEASE)
    clock.advance(LEASE + timedelta(seconds=1))
    (new,) = outbox.claim(1, LEASE)
    assert new.attempts == old.attempts + 1
    assert not outbox.retry_later(old.id, "late failure", clock.now(), attempt=old.attempts)
    assert not outbox.mark_dead(old.id, "late failure", attempt=old.attempts)
    current = outbox.get(new.id)
    assert current is not None
    assert (current.state, current.attempts) == (OutboxState.SENDING, new.attempts)


def test_concurrent_claimers_never_take_the_same_message(store: Store) -> None:
    outbox = OutboxStore(store)
    _add(store, [_message(f"m{i:03}") for i in range(300)])
    taken: list[list[int]] = [[] for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(taken))

    def claimer(mine: list[int]) -> None:
        try:
            start.wait()
            while batch := outbox.claim(7, LEASE):
                mine.extend(m.id for m in batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(mine,)) for mine in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    every = [i for mine in taken for i in mine]
    assert len(every) == len(set(every)) == 300


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgres_claimers_skip_what_another_holds(store: Store, database_url: str) -> None:
    assert isinstance(store, PostgresStore)
    outbox = OutboxStore(store)
    _add(store, [_message(f"m{i}") for i in range(4)])
    other = sa.create_engine(normalise_url(database_url), poolclass=sa.NullPool)
    try:
        with other.connect() as conn, conn.begin():
            # another dispatcher, mid-claim, holds the two oldest messages
            t = schema.outbox
            held = conn.scalars(
                sa.select(t.c.id)
                .order_by(t.c.next_attempt_at, t.c.id)
                .limit(2)
                .with_for_update(skip_locked=True)
            ).all()
            mine = outbox.claim(10, LEASE)
            assert [m.idempotency_key for m in mine] == ["m2", "m3"]
            assert not {m.id for m in mine} & set(held)
    finally:
        other.dispose()
    assert [m.idempotency_key for m in outbox.claim(10, LEASE)] == ["m0", "m1"]


def test_a_batch_is_settled_once_whatever_happened_to_its_claims(
    store: Store, clock: ManualClock
) -> None:
    from wayline.store.outbox import Settlement

    outbox = OutboxStore(store)
    _add(store, [_message(k) for k in ("sent", "retry", "dead", "later", "lapsed", "gone")])
    claimed = {m.idempotency_key: m for m in outbox.claim(10, LEASE)}
    # "lapsed": an earlier claim of the message, which lapsed (the row was claimed since);
    # "gone": already recorded
    lapsed = claimed["lapsed"]
    claimed["lapsed"] = dataclasses.replace(lapsed, attempts=lapsed.attempts - 1)
    assert outbox.mark_sent(claimed["gone"].id, {"n": 0})
    due = clock.now() + timedelta(minutes=3)
    recorded: list[int] = []
    done = outbox.settle(
        [
            Settlement(message=claimed["sent"], state=OutboxState.SENT, result={"ok": 1}),
            Settlement(message=claimed["retry"], state=OutboxState.PENDING, error="busy", at=due),
            Settlement(message=claimed["dead"], state=OutboxState.DEAD, error="HTTP 400"),
            Settlement(message=claimed["later"], state=OutboxState.PENDING, at=due, refund=True),
            Settlement(message=claimed["lapsed"], state=OutboxState.DEAD, error="late"),
            Settlement(message=claimed["gone"], state=OutboxState.SENT, result={"n": 1}),
        ],
        then=lambda conn, settled: recorded.extend(s.message.id for s in settled),
    )
    keys = [s.message.idempotency_key for s in done]
    assert keys == ["sent", "retry", "dead", "later"]
    assert recorded == [s.message.id for s in done]
    rows = {m.idempotency_key: m for m in (outbox.get(c.id) for c in claimed.values()) if m}
    assert (rows["sent"].state, rows["sent"].result) == (OutboxState.SENT, {"ok": 1})
    assert (rows["retry"].state, rows["retry"].last_error) == (OutboxState.PENDING, "busy")
    assert rows["retry"].next_attempt_at.replace(tzinfo=None) == due.replace(tzinfo=None)
    assert (rows["retry"].attempts, rows["later"].attempts) == (1, 0)  # a refund: one less
    assert (rows["dead"].state, rows["dead"].last_error) == (OutboxState.DEAD, "HTTP 400")
    assert rows["lapsed"].state is OutboxState.SENDING  # the newer claim is left alone
    assert rows["gone"].result == {"n": 0}  # recorded once
    # settling again records nothing
    assert outbox.settle([Settlement(message=claimed["sent"], state=OutboxState.SENT)]) == []
