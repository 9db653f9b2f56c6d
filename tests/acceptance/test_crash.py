"""Batches stream in while the server is killed (SIGKILL) or stopped (SIGTERM).

After a restart every acknowledged event is there exactly once, a batch is there whole or
not at all, and re-sending acknowledged batches (as an SDK retry would) adds nothing.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from tests.acceptance.harness import GRACE_SECONDS, WaylineServer, Workspace, wait_until

BATCH = 100
USERS = 20
SENDERS = 2
#: Acknowledged batches to wait for before the signal.
ACKED_BEFORE_SIGNAL = 30


def batch(n: int) -> dict[str, Any]:
    return {
        "batch": [
            {
                "type": "track",
                "userId": f"crash-{n % USERS}",
                "event": "Tick",
                "messageId": f"b{n}-{i}",
                "properties": {"n": n, "i": i},
            }
            for i in range(BATCH)
        ]
    }


class Feeder:
    """Threads that post numbered batches until stopped, noting which were acknowledged."""

    def __init__(self, server: WaylineServer, ws: Workspace) -> None:
        self.url = server.url
        self.ws = ws
        self.attempted: set[int] = set()
        self.acked: set[int] = set()
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(SENDERS)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=GRACE_SECONDS) as http:
            while not self._stop.is_set():
                with self._lock:
                    n = next(self._numbers)
                    self.attempted.add(n)
                # Like an SDK: the same batch again until it is acknowledged (or we stop).
                while not self._stop.is_set():
                    try:
                        r = http.post("/v1/batch", json=batch(n), auth=self.ws.auth)
                    except httpx.TransportError:
                        self._stop.wait(0.05)
                        continue
                    if r.status_code == 200 and r.json() == {"success": True}:
                        with self._lock:
                            self.acked.add(n)
                        break
                    self._stop.wait(0.05)

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def wait_for_acks(self, count: int) -> None:
        acked = wait_until(lambda: len(self.acked), lambda n: n >= count, timeout=120)
        assert acked >= count, f"only {acked} batches acknowledged"

    def mid_batch(self, action: Callable[[], None], timeout: float = 30) -> tuple[int, set[int]]:
        """Run ``action`` (the signal) at a moment when a sender holds a batch it has not
        seen acknowledged, and return how many batches were acknowledged then and which
        were still unacknowledged.

        No acknowledgement is noted while ``action`` runs (the lock is held), so what is
        returned is exactly what had been acknowledged when the signal landed.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                unacked = self.attempted - self.acked
                if unacked:
                    action()
                    return len(self.acked), unacked
            assert time.monotonic() < deadline, f"no batch in flight within {timeout} s"
            time.sleep(0.001)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)
            assert not t.is_alive()


def stored_batches(server: WaylineServer, ws: Workspace) -> Counter[int]:
    """How many events of each batch the server holds, read from every customer's timeline;
    fails if any messageId is there twice."""
    server.barrier()
    ids: list[str] = []
    for u in range(USERS):
        if server.profile(ws, f"crash-{u}") is not None:
            ids += [e["messageId"] for e in server.timeline(ws, f"crash-{u}")]
    twice = [mid for mid, k in Counter(ids).items() if k > 1]
    assert twice == [], f"{len(twice)} events are there twice, e.g. {twice[:3]}"
    return Counter(int(mid[1:].partition("-")[0]) for mid in ids)


def check_after_restart(server: WaylineServer, ws: Workspace, feeder: Feeder) -> None:
    held = stored_batches(server, ws)
    assert feeder.acked <= set(held), (
        f"acknowledged batches lost: {sorted(feeder.acked - set(held))}"
    )
    assert set(held) <= feeder.attempted
    partial = {n: k for n, k in held.items() if k != BATCH}
    assert partial == {}, "batches stored in part"
    total = BATCH * len(held)
    assert server.stats(ws) == {"events": total, "profiles": USERS, "rejected": 0}

    # An SDK retries what it did not see acknowledged, and may retry what it did: neither adds
    # an event twice, and the unacknowledged ones now land in full.
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for n in sorted(feeder.acked):
            r = http.post("/v1/batch", json=batch(n), auth=ws.auth)
            assert r.status_code == 200, r.text
        assert server.stats(ws)["events"] == total
        for n in sorted(feeder.attempted - feeder.acked):
            r = http.post("/v1/batch", json=batch(n), auth=ws.auth)
            assert r.status_code == 200, r.text
    assert server.stats(ws)["events"] == BATCH * len(feeder.attempted)
    assert stored_batches(server, ws) == dict.fromkeys(feeder.attempted, BATCH)
    assert server.stats(ws)["profiles"] == USERS


def test_sigkill_while_batches_stream_loses_no_acknowledged_event(
    fresh_server: WaylineServer,
) -> None:
    ws = fresh_server.create_workspace("kill9")
    fresh_server.start()
    feeder = Feeder(fresh_server, ws)
    feeder.start()
    try:
        feeder.wait_for_acks(ACKED_BEFORE_SIGNAL)
        acked, in_flight = feeder.mid_batch(lambda: fresh_server.signal(signal.SIGKILL))
        assert fresh_server.wait(30) == -signal.SIGKILL
    finally:
        feeder.stop()
    # the kill landed in the middle of the stream: batches acknowledged before it, and at
    # least one sent but not acknowledged when it landed
    assert acked >= ACKED_BEFORE_SIGNAL
    assert in_flight

    fresh_server.start()
    # nothing acknowledged is lost, what was in flight is there whole or not at all, and
    # sending everything again leaves each batch there once
    check_after_restart(fresh_server, ws, feeder)


def test_sigterm_while_batches_stream_exits_0_and_keeps_every_acknowledged_event(
    fresh_server: WaylineServer,
) -> None:
    ws = fresh_server.create_workspace("sigterm")
    fresh_server.start()
    feeder = Feeder(fresh_server, ws)
    feeder.start()
    try:
        feeder.wait_for_acks(ACKED_BEFORE_SIGNAL)
        acked, in_flight = feeder.mid_batch(lambda: fresh_server.signal(signal.SIGTERM))
        status = fresh_server.wait(GRACE_SECONDS)
    finally:
        feeder.stop()
    # the signal landed in the middle of the stream
    assert acked >= ACKED_BEFORE_SIGNAL
    assert in_flight
    assert status is not None, f"still running {GRACE_SECONDS} s after SIGTERM"
    assert status == 0, f"exit status {status} after SIGTERM:\n{fresh_server.log_tail()}"

    fresh_server.start()
    check_after_restart(fresh_server, ws, feeder)
