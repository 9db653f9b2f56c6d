"""Traits a journey writes to a customer's profile (``update_profile``, ``score``).

A journey writes in the worker's transaction, under the profile row's lock, so that the
nodes after it (and the other instances of the batch) see the change at once. Traits merge
by time, last write wins (see ``profiles.py``): a journey's write is stamped with the
worker's clock, so an event stamped earlier that is consumed later does not overwrite it.
A removed trait keeps its time, so an older event does not bring it back either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema


class TraitError(ValueError):
    """The profile cannot take this change."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TraitChange:
    """What a node does to the profile: traits to set, to remove, numbers to add to."""

    set: dict[str, Any] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)
    add: dict[str, float] = field(default_factory=dict)


def _number(name: str, value: Any) -> float:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TraitError(f"trait {name!r} is not a number: {value!r}")
    return value


def change_traits(
    conn: Connection, profile_id: str, change: TraitChange, at: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply ``change`` to the profile in the caller's transaction.

    Returns the profile's traits after the change, and the values this change gave
    (what was set or added to, for the identify call that reports it).
    """
    p = schema.profiles
    row = conn.execute(
        sa.select(p.c.traits, p.c.trait_times).where(p.c.id == profile_id).with_for_update()
    ).first()
    if row is None:
        raise TraitError("the customer's profile no longer exists")
    traits: dict[str, Any] = orjson.loads(row.traits)
    times: dict[str, str] = orjson.loads(row.trait_times)
    stamp = at.astimezone(UTC).isoformat()
    given: dict[str, Any] = {}
    for name, amount in change.add.items():
        total = _number(name, traits.get(name)) + amount
        given[name] = int(total) if isinstance(total, float) and total.is_integer() else total
    given.update(change.set)
    for name in [*given, *change.unset]:
        # a value stamped later than this clock (a client clock ahead) is still replaced:
        # this write happens after it; the stamp keeps the later of the two
        times[name] = max(stamp, times.get(name, ""))
    traits.update(given)
    for name in change.unset:
        traits.pop(name, None)
    conn.execute(
        sa.update(p)
        .where(p.c.id == profile_id)
        .values(
            traits=orjson.dumps(traits).decode(),
            trait_times=orjson.dumps(times).decode(),
            updated_at=at,
        )
    )
    return traits, given
