"""What changed between two versions of a journey: nodes added, removed and changed (with
which fields), and the journey-level fields (entry, goal, re_entry, …) that differ.

Both sides are stored specs (``spec_of``: plain JSON data), compared value by value, so
two versions whose files differ only in layout or comments have no difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeChange:
    """A node kept by id whose definition differs."""

    node: str
    #: The node's fields whose value differs (``type`` when the node changed type).
    fields: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class SpecDiff:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[NodeChange, ...] = ()
    #: Journey-level fields that differ, like ``entry``, ``goal``, ``re_entry``.
    journey: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.journey)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": [{"node": c.node, "fields": list(c.fields)} for c in self.changed],
            "journey": list(self.journey),
        }


def nodes_of(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The spec's nodes by id, in file order."""
    return {str(n["id"]): n for n in spec.get("nodes", [])}


def node_fields(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, ...]:
    """The fields of a node whose value differs; empty when the node is the same."""
    keys = [*old, *(k for k in new if k not in old)]
    return tuple(k for k in keys if old.get(k) != new.get(k))


def diff_specs(old: dict[str, Any], new: dict[str, Any]) -> SpecDiff:
    """How ``new`` differs from ``old`` (nodes in the order of the file they come from)."""
    before, after = nodes_of(old), nodes_of(new)
    changed = []
    for node_id, definition in after.items():
        if node_id in before:
            fields = node_fields(before[node_id], definition)
            if fields:
                changed.append(NodeChange(node=node_id, fields=fields))
    top = [k for k in (*old, *(k for k in new if k not in old)) if k not in ("id", "nodes")]
    return SpecDiff(
        added=tuple(n for n in after if n not in before),
        removed=tuple(n for n in before if n not in after),
        changed=tuple(changed),
        journey=tuple(k for k in top if old.get(k) != new.get(k)),
    )
