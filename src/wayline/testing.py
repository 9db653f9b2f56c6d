"""Helpers for tests of Wayline and of projects built on it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from wayline.profiles import process_inbox
from wayline.store.base import Store


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        with self._lock:
            self._now += delta if delta is not None else timedelta(**kwargs)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when


def drain_profiles(store: Store, *, timeout: float = 10.0, batch: int = 1000) -> None:
    """Run the profile consumer until it has taken every event in the inbox.

    On PostgreSQL a consumer may find nothing for a moment while any transaction of the
    cluster older than the newest events is still running, so this waits rather than
    assuming one step is enough.
    """
    deadline = time.monotonic() + timeout
    while True:
        if not process_inbox(store, batch):
            if store.profiles_lag() == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"profile consumer still {store.profiles_lag()} behind")
            time.sleep(0.01)
