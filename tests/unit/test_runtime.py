"""The loops of a process: a loop that did work wakes the loops that follow it at once,
rather than leaving them to their next poll."""

from __future__ import annotations

import threading

from wayline.runtime import Runtime


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
