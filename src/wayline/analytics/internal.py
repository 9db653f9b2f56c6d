"""Internal events: what Wayline itself puts on a customer's timeline, as opposed to what
the customer did.

Wayline records its own doings as ordinary ``track`` events (see ``wayline.announcements``
and ``wayline.channels.feedback``), so that journeys can wait for them and analyses can
count them. The analyses of behaviour (paths, the discovered journey, the journey map's
touchpoints) leave them out by default: a ``Segment Entered`` between two page views is
not a step the customer took. Each of them takes ``include_internal`` to put them back.

This is the one definition of what is internal: the exact names below, every one of
them written by Wayline itself. What the customer did with a message (``Email Opened``,
``Email Link Clicked``, ``Email Marked as Spam``, ``Unsubscribed``, ``Content Viewed``,
``Content Clicked``, ``Content Dismissed``) is behaviour, and stays. Names are matched
exactly rather than by prefix, so that a customer event of one's own such as
``Message Posted`` or ``Segment Viewed`` is never taken for Wayline's.

Funnels and attribution do not use this: a funnel's steps are named by the user, and
attribution reads only the touches and conversions it is told about.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

#: A message went out to the customer (``properties.channel`` says on which channel).
MESSAGE_SENT: Final = "Message Sent"

#: Every event name Wayline writes about its own doings (persisted names: see their
#: emitters in ``wayline.stages.tracker``, ``wayline.segments.membership``,
#: ``wayline.channels.feedback`` and ``wayline.channels.content``).
INTERNAL_EVENTS: Final = frozenset(
    {
        # Lifecycle stages and segments.
        "Stage Entered",
        "Segment Entered",
        "Segment Exited",
        # Messages: sent or failed by the dispatcher, delivery reported by the provider.
        MESSAGE_SENT,
        "Message Failed",
        "Email Delivered",
        "Email Bounced",
        "SMS Delivered",
        # Content served to a site's placement.
        "Content Delivered",
    }
)

#: In the journey map, the touchpoint a message the customer received is shown as,
#: under the message's channel (``email · Message Received``).
MESSAGE_RECEIVED: Final = "Message Received"


def is_internal_event(name: str | None) -> bool:
    """Whether an event of this name was written by Wayline itself."""
    return name in INTERNAL_EVENTS


def behaviour(events: Any, keep: Iterable[str | None] = (), column: str = "event") -> Any:
    """``events`` without the internal ones, except those named in ``keep`` (an event the
    user asked for by name, such as the start event of paths)."""
    kept = sorted({k for k in keep if k is not None} & INTERNAL_EVENTS)
    names = sorted(INTERNAL_EVENTS - set(kept))
    return events.filter(~events[column].isin(names).fill_null(False))
