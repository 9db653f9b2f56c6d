"""What applying a journey file does: a new version or none, the difference, and what
happens to the customers already inside, with or without a migration.

:func:`make_plan` is pure: it decides from the stored versions, the customers inside per
version and node, and the mapping. ``journeys plan`` prints its result; ``journeys apply``
makes the same plan inside its transaction and carries it out, so the plan a person
reviewed is what happens (unless customers moved in between, which apply then reports).

A migration moves every customer inside an older version onto the applied one:

- a customer at a node that is in the new version with the same definition, and not
  mapped elsewhere, **continues**: same node, same wake time, same waits;
- a customer at a node that changed, or mapped to another node, **re-enters** the target
  node now: its clock restarts (a delay waits its full duration from now, a
  wait_for_event listens afresh with a new timeout);
- a customer at a node the new version removed must be mapped with ``--map OLD=NEW``;
  without a target the whole apply is refused and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from wayline.errors import WaylineError
from wayline.journeys.diff import SpecDiff, diff_specs, node_fields, nodes_of
from wayline.store.journeys.versions import spec_digest

#: Whether the file is a journey seen for the first time, the latest version, or a change.
NEW, UNCHANGED, NEW_VERSION = "new", "unchanged", "new_version"
#: How a moved customer goes on (see the module's docstring).
CONTINUES, RE_ENTERS = "continues", "re_enters"
#: A node of an older version, seen from the applied version.
SAME, CHANGED, REMOVED = "same", "changed", "removed"


class MappingInvalid(WaylineError):
    """The node mapping is not valid."""


class MigrationRefused(WaylineError):
    """Customers are at nodes that have no place in the new version; nothing was applied."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Inside:
    """Customers inside one version, at one node."""

    version: int
    node: str
    customers: int
    #: same | changed | removed: the node in the applied version.
    in_target: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Move:
    from_version: int
    from_node: str
    to_node: str
    customers: int
    #: continues | re_enters
    how: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Refusal:
    """Customers at a node that no longer exists, with no target given."""

    version: int
    node: str
    customers: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    journey_id: str
    #: new | unchanged | new_version
    status: str
    #: The version the file is (unchanged) or becomes.
    version: int
    #: The latest version before this apply; None for a new journey.
    previous: int | None
    diff: SpecDiff | None
    inside: tuple[Inside, ...]
    migrate: bool
    moves: tuple[Move, ...]
    refused: tuple[Refusal, ...]

    def route(self, version: int, node: str) -> Move | None:
        for move in self.moves:
            if (move.from_version, move.from_node) == (version, node):
                return move
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "journey_id": self.journey_id,
            "status": self.status,
            "version": self.version,
            "previous_version": self.previous,
            "diff": None if self.diff is None else self.diff.to_json(),
            "inside": [
                {
                    "version": x.version,
                    "node": x.node,
                    "customers": x.customers,
                    "in_target": x.in_target,
                }
                for x in self.inside
            ],
            "migrate": self.migrate,
            "moves": [
                {
                    "from_version": m.from_version,
                    "from_node": m.from_node,
                    "to_node": m.to_node,
                    "customers": m.customers,
                    "how": m.how,
                }
                for m in self.moves
            ],
            "refused": [
                {"version": r.version, "node": r.node, "customers": r.customers}
                for r in self.refused
            ],
        }

    def refusal_message(self) -> str:
        """One line: why apply --migrate refuses this plan."""
        where = ", ".join(
            f"{r.node!r} (version {r.version}, {r.customers} customers)" for r in self.refused
        )
        return (
            f"{self.journey_id}: nothing applied: customers are at nodes version {self.version} "
            f"removed: {where}; map each with --map NODE=NEW_NODE"
        )


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """``["OLD=NEW", …]`` -> {OLD: NEW}. Raises :class:`MappingInvalid`."""
    mapping: dict[str, str] = {}
    for item in items:
        old, sep, new = item.partition("=")
        old, new = old.strip(), new.strip()
        if not sep or not old or not new:
            raise MappingInvalid(f"--map {item!r}: expected OLD=NEW (two node ids)")
        if old in mapping:
            raise MappingInvalid(f"--map {item!r}: node {old!r} is mapped twice")
        mapping[old] = new
    return mapping


def make_plan(
    journey_id: str,
    spec: dict[str, Any],
    stored: Mapping[int, dict[str, Any]],
    inside: Mapping[tuple[int, str], int],
    *,
    migrate: bool,
    mapping: Mapping[str, str],
) -> Plan:
    """The plan for applying ``spec`` over the ``stored`` versions (version -> spec), with
    ``inside`` customers per (version, node). Raises :class:`MappingInvalid`."""
    latest = max(stored) if stored else None
    if latest is None:
        status, version, diff = NEW, 1, None
    elif spec_digest(stored[latest]) == spec_digest(spec):
        status, version, diff = UNCHANGED, latest, None
    else:
        status, version = NEW_VERSION, latest + 1
        diff = diff_specs(stored[latest], spec)
    target = nodes_of(spec)
    _check_mapping(journey_id, version, target, stored, migrate, mapping)
    here: list[Inside] = []
    moves: list[Move] = []
    refused: list[Refusal] = []
    for (v, node), count in sorted(inside.items()):
        if count <= 0:
            continue
        old = nodes_of(stored[v]).get(node) if v in stored else None
        new = target.get(node)
        if old is None or new is None:
            state = REMOVED
        else:
            state = SAME if v == version or not node_fields(old, new) else CHANGED
        here.append(Inside(version=v, node=node, customers=count, in_target=state))
        if not migrate or v >= version:
            continue
        to = mapping.get(node, node if new is not None else None)
        if to is None:
            refused.append(Refusal(version=v, node=node, customers=count))
            continue
        how = CONTINUES if to == node and state == SAME else RE_ENTERS
        moves.append(Move(from_version=v, from_node=node, to_node=to, customers=count, how=how))
    return Plan(
        journey_id=journey_id,
        status=status,
        version=version,
        previous=latest,
        diff=diff,
        inside=tuple(here),
        migrate=migrate,
        moves=tuple(moves),
        refused=tuple(refused),
    )


def _check_mapping(
    journey_id: str,
    version: int,
    target: Mapping[str, Any],
    stored: Mapping[int, dict[str, Any]],
    migrate: bool,
    mapping: Mapping[str, str],
) -> None:
    if mapping and not migrate:
        raise MappingInvalid("--map says where customers move: it needs --migrate")
    earlier = {n for v, s in stored.items() if v < version for n in nodes_of(s)}
    for old, new in mapping.items():
        if old not in earlier:
            raise MappingInvalid(
                f"--map {old}={new}: {journey_id} has no node {old!r} in a version before {version}"
            )
        if new not in target:
            raise MappingInvalid(
                f"--map {old}={new}: version {version} of {journey_id} has no node {new!r}"
            )


# -- in words ---------------------------------------------------------------------------

_HOW = {CONTINUES: "continue their wait", RE_ENTERS: "enter it again now"}
_STATE = {SAME: "unchanged", CHANGED: "changed", REMOVED: "removed"}


def describe_diff(plan: Plan) -> list[str]:
    """The difference from the latest version, one line per kind of change."""
    diff = plan.diff
    if diff is None:
        return []
    if diff.empty:
        return ["  no change in nodes or journey fields"]
    lines = []
    if diff.added:
        lines.append("  nodes added: " + ", ".join(diff.added))
    if diff.removed:
        lines.append("  nodes removed: " + ", ".join(diff.removed))
    for change in diff.changed:
        lines.append(f"  node changed: {change.node} ({', '.join(change.fields)})")
    if diff.journey:
        lines.append("  journey fields changed: " + ", ".join(diff.journey))
    return lines


def describe_inside(plan: Plan) -> list[str]:
    """Customers inside per version and node, and what the applied version has there."""
    if not plan.inside:
        return ["  nobody inside"]
    total = sum(x.customers for x in plan.inside)
    lines = [f"  inside: {total} customers"]
    for x in plan.inside:
        note = (
            "this version"
            if x.version == plan.version
            else f"{_STATE[x.in_target]} in version {plan.version}"
        )
        lines.append(f"    version {x.version} node {x.node}: {x.customers} ({note})")
    return lines


def describe_effect(plan: Plan) -> list[str]:
    """What happens to the customers inside older versions: the same lines for a plan and
    for what apply did."""
    lines = []
    for m in plan.moves:
        lines.append(
            f"  version {m.from_version} node {m.from_node} -> version {plan.version} node "
            f"{m.to_node}: {m.customers} customers ({_HOW[m.how]})"
        )
    for r in plan.refused:
        lines.append(
            f"  refused: version {r.version} node {r.node}: {r.customers} customers and no "
            f"node {r.node!r} in version {plan.version}; map it with --map {r.node}=NODE"
        )
    if not plan.migrate:
        staying: dict[int, int] = {}
        for x in plan.inside:
            if x.version < plan.version:
                staying[x.version] = staying.get(x.version, 0) + x.customers
        for v, n in sorted(staying.items()):
            lines.append(f"  version {v}: {n} customers stay on it (--migrate moves them)")
    return lines
