"""Histories kept between the segment consumer's steps.

Evaluating a customer needs the events their segments look at. Reading them back from the
inbox for every batch that touches the customer costs far more than the evaluation, so the
consumer keeps the histories it has read and adds each new event of the batch to them. A
history is read again only when it may have changed in a way the batch does not show: a
merge, a call that links a userId and an anonymousId, a change of segments, or a step taken
by another process (the cursor moved under it).
"""

from __future__ import annotations

from bisect import insort
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from wayline.segments.evaluate import Happening


def _order(e: Happening) -> tuple[Any, int]:
    return (e.at, e.seq)


@dataclass(slots=True)
class History:
    """One customer's events, by name, oldest first, and the inbox rows they came from."""

    events: dict[str, list[Happening]]
    seqs: set[int] = field(default_factory=set)


class Histories:
    """The histories of the customers evaluated last, least recently used dropped first
    once they hold more than ``capacity`` events in all.

    ``names`` and ``filtered`` are, per workspace, the event names its segments look at and
    those whose message a ``where`` filter reads: a kept history holds all of them, so that
    any of the workspace's segments can be evaluated from it.
    """

    def __init__(self, capacity: int = 1_000_000) -> None:
        self.capacity = capacity
        self.names: dict[str, frozenset[str]] = {}
        self.filtered: dict[str, frozenset[str]] = {}
        self._kept: OrderedDict[tuple[str, str], History] = OrderedDict()
        #: Events held in all (about 200 bytes each).
        self._size = 0
        self._basis: object = None

    def __len__(self) -> int:
        return len(self._kept)

    def check(self, basis: object) -> None:
        """Forget everything unless ``basis`` (what the histories were built on: the
        cursor, the segments) is the one they were kept with."""
        if basis != self._basis:
            self.clear()
            self._basis = basis

    def rebase(self, basis: object) -> None:
        """The histories are now built on ``basis``."""
        self._basis = basis

    def clear(self) -> None:
        self._kept.clear()
        self._size = 0
        self.names.clear()
        self.filtered.clear()
        self._basis = None

    def get(self, workspace_id: str, profile_id: str) -> History | None:
        found = self._kept.get((workspace_id, profile_id))
        if found is not None:
            self._kept.move_to_end((workspace_id, profile_id))
        return found

    def keep(self, workspace_id: str, profile_id: str, history: History) -> None:
        self.drop(workspace_id, profile_id)
        self._kept[(workspace_id, profile_id)] = history
        self._size += len(history.seqs)
        self._shrink()

    def _shrink(self) -> None:
        while self._size > self.capacity and len(self._kept) > 1:
            _, oldest = self._kept.popitem(last=False)
            self._size -= len(oldest.seqs)

    def drop(self, workspace_id: str, profile_id: str) -> None:
        gone = self._kept.pop((workspace_id, profile_id), None)
        if gone is not None:
            self._size -= len(gone.seqs)

    def add(self, workspace_id: str, profile_id: str, event: Happening) -> None:
        """A new event of the customer, if their history is kept and looks at its name."""
        history = self._kept.get((workspace_id, profile_id))
        if history is None or event.seq in history.seqs:
            return
        if event.name not in self.names.get(workspace_id, frozenset()):
            return
        history.seqs.add(event.seq)
        self._size += 1
        insort(history.events.setdefault(event.name, []), event, key=_order)
        self._shrink()
