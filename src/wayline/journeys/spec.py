"""The journey: its entry, re-entry policy, goal, exit conditions, controls and nodes.

A :class:`Journey` is structurally valid once it is built; whether its nodes link up
(every id exists, no wait-free loop, weights add up) is checked by
:func:`wayline.journeys.validate.check_journey`, which :func:`load_journey` runs too.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictInt

from wayline.journeys.base import JourneyId, SpecModel
from wayline.journeys.conditions import ExitWhen
from wayline.journeys.durations import Rate
from wayline.journeys.entries import Entry, Goal, ReEntry
from wayline.journeys.nodes import Node


class Journey(SpecModel):
    """A journey as written in its file: one version of it."""

    id: JourneyId
    """The journey's id, in URLs and ``goto: {journey: ID}``; keep it when editing."""
    name: str | None = None
    """A name for people, shown in the dashboard."""
    description: str | None = None
    """What the journey is for."""
    entry: Entry
    """How customers enter: an event, a segment, a schedule or the API."""
    re_entry: ReEntry = ReEntry()
    """Whether a customer may enter again: ``once`` (default), ``always``, or ``after`` a
    ``cooldown``."""
    goal: Goal | None = None
    """The conversion event, counted per node; with ``exit: true`` it ends the journey."""
    exit_when: ExitWhen = Field(default_factory=list)
    """Conditions that end the journey early, like ``{event: Unsubscribed}``."""
    priority: StrictInt = 0
    """Higher goes first when journeys compete for the same frequency cap."""
    send_rate: Rate | None = None
    """At most this many messages from this journey, like ``100/m``."""
    nodes: list[Node] = Field(min_length=1)
    """The steps; customers start at the first."""

    @property
    def first(self) -> Node:
        """The node every customer starts at."""
        return self.nodes[0]

    def node(self, node_id: str) -> Node:
        """The node with this id (the first one, should a journey that failed its checks
        have two). Raises :class:`KeyError` when there is none."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def to_data(self) -> dict[str, Any]:
        """The journey as plain JSON data in the file's own terms (``7d``, not seconds),
        leaving out what is at its default: loading it gives back an equal journey."""
        return self.model_dump(mode="json", exclude_defaults=True)
