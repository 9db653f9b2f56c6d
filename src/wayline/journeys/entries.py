"""How customers enter a journey, when they may enter again, and what counts as converting.

An entry is told apart by its key: ``event``, ``segment``, ``at`` or ``cron`` (a
schedule), or ``api``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import Discriminator, StrictBool, Tag, model_validator

from wayline.journeys.base import FieldPath, Name, SegmentId, SpecModel, by_key, problem
from wayline.journeys.durations import Duration
from wayline.journeys.filters import Where
from wayline.journeys.timing import Cron, TimeZone


class EventEntry(SpecModel):
    """Enter when the customer does an event that passes the filter."""

    event: Name
    """The event name, as in ``track``."""
    where: Where | None = None
    """Only events that pass this filter (paths into the event: ``properties.price``)."""
    key: FieldPath | None = None
    """A correlation key: the value at this path of the entering event (``properties.cart_id``)
    is kept in the instance as ``journey.key``, for ``match_key`` in waits and goals."""


class SegmentEntry(SpecModel):
    """Enter when the customer enters (or, with ``on: exited``, leaves) a segment."""

    segment: SegmentId
    """The segment's id."""
    on: Literal["entered", "exited"] = "entered"
    """``entered`` (default) or ``exited``."""


class ScheduleEntry(SpecModel):
    """Enter every customer of an audience at a time: once (``at``) or repeatedly (``cron``)."""

    at: datetime | None = None
    """One moment, ISO 8601. Without a UTC offset it is read in ``timezone``
    (``2026-06-01T09:00:00`` with ``timezone: customer`` is 9:00 for each customer)."""
    cron: Cron | None = None
    """A five-field cron expression read in ``timezone``, like ``0 9 * * mon``."""
    timezone: TimeZone = "workspace"
    """``workspace`` (default), ``customer`` or an IANA name like ``Europe/Paris``."""
    audience: SegmentId
    """Who enters: ``all`` customers, or the id of a segment."""

    @model_validator(mode="after")
    def _one_time(self) -> ScheduleEntry:
        if (self.at is None) == (self.cron is None):
            raise problem(
                "schedule", "a schedule needs either at (once) or cron (repeatedly), not both"
            )
        if self.at is not None and self.at.tzinfo is not None and self.timezone == "customer":
            raise problem(
                "schedule",
                "at has a UTC offset, so it is one moment for everyone; drop the offset to "
                "enter each customer at that local time",
                at=("at",),
            )
        return self


class ApiEntry(SpecModel):
    """Enter by ``POST /api/v1/journeys/{id}/enroll``."""

    api: Literal[True]
    """``true``."""


ENTRY_TAGS: Final = {
    "event": "event entry",
    "segment": "segment entry",
    "at": "schedule entry",
    "cron": "schedule entry",
    "api": "api entry",
}

Entry = Annotated[
    Annotated[EventEntry, Tag("event entry")]
    | Annotated[SegmentEntry, Tag("segment entry")]
    | Annotated[ScheduleEntry, Tag("schedule entry")]
    | Annotated[ApiEntry, Tag("api entry")],
    Discriminator(
        by_key(*ENTRY_TAGS.items()),
        custom_error_type="entry",
        custom_error_message=(
            "not an entry: it needs one of the keys event, segment, at or cron (a schedule), api"
        ),
    ),
]


class ReEntry(SpecModel):
    """Whether a customer who entered before may enter again."""

    policy: Literal["once", "always", "after"] = "once"
    """``once``: never again; ``always``: every time the entry fires; ``after``: once the
    ``cooldown`` since the previous entry has passed."""
    cooldown: Duration | None = None
    """With ``policy: after``: how long after an entry the customer may enter again."""

    @model_validator(mode="after")
    def _cooldown_with_after(self) -> ReEntry:
        if self.policy == "after" and self.cooldown is None:
            raise problem(
                "re_entry", "policy after needs a cooldown, like cooldown: 7d", at=("policy",)
            )
        if self.policy != "after" and self.cooldown is not None:
            raise problem(
                "re_entry",
                f"a cooldown only applies to policy after, not {self.policy}",
                at=("cooldown",),
            )
        return self


class Goal(SpecModel):
    """The conversion: an event that counts as success, and may end the journey early."""

    event: Name
    """The event name."""
    where: Where | None = None
    """Only events that pass this filter (paths into the event)."""
    match_key: FieldPath | None = None
    """Only events whose value at this path equals the instance's key (``entry.key``)."""
    within: Duration | None = None
    """Counts only within this time after entering; without it, while in the journey."""
    exit: StrictBool = False
    """``true``: a customer who converts leaves the journey at once."""
