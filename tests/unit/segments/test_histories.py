"""Histories kept between the segment consumer's steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wayline.segments.evaluate import Happening
from wayline.segments.histories import Histories, History

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def event(name: str, seq: int, ago: timedelta = timedelta()) -> Happening:
    return Happening(name=name, at=NOW - ago, seq=seq)


def kept(names: frozenset[str] = frozenset({"Order", "View"})) -> Histories:
    histories = Histories(capacity=2)  # events in all
    histories.check("cursor 1")
    histories.names["w"] = names
    histories.keep("w", "p1", History(events={"Order": [event("Order", 1)]}, seqs={1}))
    return histories


def test_a_new_event_goes_in_time_order_once() -> None:
    histories = kept()
    late = event("Order", 3)
    early = event("Order", 2, ago=timedelta(days=1))
    for e in (late, early, late):
        histories.add("w", "p1", e)
    history = histories.get("w", "p1")
    assert history is not None
    assert [e.seq for e in history.events["Order"]] == [2, 1, 3]


def test_only_kept_customers_and_looked_at_names_are_added() -> None:
    histories = kept()
    histories.add("w", "p2", event("Order", 5))
    histories.add("w", "p1", event("Signed In", 6))
    assert histories.get("w", "p2") is None
    history = histories.get("w", "p1")
    assert history is not None
    assert set(history.events) == {"Order"}


def test_another_basis_forgets_everything() -> None:
    histories = kept()
    histories.check("cursor 1")
    assert histories.get("w", "p1") is not None
    histories.check("cursor 2")
    assert histories.get("w", "p1") is None
    assert histories.names == {}


def one(seq: int) -> History:
    return History(events={"Order": [event("Order", seq)]}, seqs={seq})


def test_the_least_recently_used_history_goes_first_beyond_the_capacity_in_events() -> None:
    histories = kept()
    histories.keep("w", "p2", one(2))
    assert histories.get("w", "p1") is not None  # p1 used after p2
    histories.keep("w", "p3", one(3))
    assert histories.get("w", "p2") is None
    assert histories.get("w", "p1") is not None
    assert len(histories) == 2
    histories.add("w", "p1", event("Order", 4))  # three events now: p3 goes
    assert histories.get("w", "p3") is None
    assert histories.get("w", "p1") is not None


def test_a_dropped_history_is_read_again() -> None:
    histories = kept()
    histories.drop("w", "p1")
    histories.add("w", "p1", event("Order", 9))
    assert histories.get("w", "p1") is None
