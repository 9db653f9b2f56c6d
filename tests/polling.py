"""Waiting for something another thread, process or database transaction does.

Every wait in the suite is bounded by a deadline on the monotonic clock, never by a count
of tries: a count of tries lasts longer or shorter as the machine is busier or idler, so
it is either too short on a loaded CI machine or needlessly long everywhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: How long a test waits, by default, for what a background loop or another database
#: transaction is about to do.
DEFAULT_TIMEOUT = 30.0


def wait_until(
    predicate: Callable[[], T | None],
    *,
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.02,
) -> T:
    """Call ``predicate`` until it returns something true, and return that.

    Fails the test (``AssertionError``) when ``timeout`` seconds pass first, saying what was
    waited for and what ``predicate`` returned last.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}; last saw {found!r}")
        time.sleep(interval)
