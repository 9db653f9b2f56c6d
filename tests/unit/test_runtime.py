"""The loops of a process: a loop that did work wakes the loops that follow it at once,
rather than leaving them to their next poll."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy.exc

from wayline.runtime import Isolation, Loop, Runtime


def test_work_wakes_the_follower_before_its_poll() -> None:
    looked, produced, consumed = threading.Event(), threading.Event(), threading.Event()

    def produce() -> int:
        if looked.is_set() and not produced.is_set():
            produced.set()
            return 1
        return 0

    def consume() -> int:
        looked.set()
        if produced.is_set() and not consumed.is_set():
            consumed.set()
            return 1
        return 0

    # both poll once an hour: only nudges can make them run again within the test
    runtime = Runtime()
    runtime.add("producer", produce, 3600)
    runtime.add("consumer", consume, 3600)
    runtime.chain("producer", "consumer", "not-run-here")
    runtime.start()
    try:
        assert looked.wait(10)
        runtime.nudge("producer")  # as the API does when events arrive
        assert consumed.wait(10)
    finally:
        runtime.stop()
    for loop in runtime.loops:
        assert loop.thread is not None
        assert not loop.thread.is_alive()


def test_stop_cuts_an_idle_sleep_short() -> None:
    runtime = Runtime()
    runtime.add("idle", lambda: 0, 3600)
    runtime.start()
    runtime.stop()
    (loop,) = runtime.loops
    assert loop.thread is not None
    assert not loop.thread.is_alive()


class Rows:
    """An inbox consumer over a list of rows: ``poison`` rows fail, ``outage`` fails all."""

    consumer = "rows"

    def __init__(self, rows: int, poison: set[int]) -> None:
        self.rows = list(range(rows))
        self.poison = poison
        self.cursor = 0
        self.batch_size = 4
        self.done: list[int] = []
        self.parked: list[int] = []
        self.sizes: list[int] = []
        self.outage = False

    def step(self) -> int:
        if self.outage:
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError())
        batch = self.rows[self.cursor : self.cursor + self.batch_size]
        self.sizes.append(self.batch_size)
        if any(r in self.poison for r in batch):
            raise ValueError("cannot process")
        self.done += batch
        self.cursor += len(batch)
        return len(batch)

    def park(self, error: str, attempts: int) -> bool:
        if self.outage:
            raise sqlalchemy.exc.OperationalError("INSERT", {}, ConnectionRefusedError())
        self.parked.append(self.rows[self.cursor])
        self.cursor += 1
        return True

    def replay(self, events: Any) -> None:
        raise AssertionError("no letters to retry here")


class NoLetters:
    def due(self, consumer: str) -> list[Any]:
        return []


def isolated(rows: Rows) -> Loop:
    isolation = Isolation(consumer=rows, letters=NoLetters(), max_attempts=3)  # type: ignore[arg-type]
    return Loop(name="rows", step=rows.step, idle=1, isolation=isolation)


def test_a_poisoned_row_is_parked_and_the_rest_flow_at_the_batch_size_again() -> None:
    rows = Rows(12, poison={5})
    loop = isolated(rows)
    while loop.turn() is not None:
        pass
    assert rows.parked == [5]
    assert rows.done == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]
    # one failed batch of 4, single rows up to and past row 5 (three tries of it), then 4s
    assert rows.sizes[:2] == [4, 4]
    assert rows.sizes[-1] == 4
    assert rows.batch_size == 4


def test_an_outage_parks_nothing() -> None:
    rows = Rows(8, poison=set())
    rows.outage = True
    loop = isolated(rows)
    for _ in range(10):
        assert loop.turn()
    assert rows.parked == []
    assert rows.batch_size == 4  # no row suspected
    rows.outage = False
    while loop.turn() is not None:
        pass
    assert rows.done == list(range(8))


def test_a_row_that_cannot_be_parked_stays() -> None:
    rows = Rows(8, poison={2})
    loop = isolated(rows)
    for _ in range(4):  # the batch, then three tries of row 0.. until row 2 fails three times
        loop.turn()
    rows.outage = True  # the database goes as the row is about to be parked
    for _ in range(5):
        loop.turn()
    assert rows.parked == []
    rows.outage = False
    while loop.turn() is not None:
        pass
    assert rows.parked == [2]
    assert rows.done == [0, 1, 3, 4, 5, 6, 7]
