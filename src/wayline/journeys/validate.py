"""Checks of a journey as a whole, once its parts are well formed.

The models say whether each part is written correctly; these checks say whether the parts
fit together: every link names a node, every customer can get somewhere, no customer can
loop forever without waiting, a split's weights add up, a ``match_key`` has a key to
match, a message condition names a message. Channels are checked against a known set, and
templates, segments and journeys only when the caller (the runtime, for a workspace) says
which exist.

Each problem is an :class:`Issue` located in the document (``('nodes', 2, 'next')``), so
the loader can report it at its line.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from wayline.journeys.conditions import ExitCondition, SegmentCondition, leaves
from wayline.journeys.entries import Entry, EventEntry, Goal, ScheduleEntry, SegmentEntry
from wayline.journeys.graph import loops, reachable
from wayline.journeys.nodes import (
    WAITING_TYPES,
    BranchNode,
    GotoNode,
    Loc,
    Node,
    SendNode,
    SplitNode,
    WaitForEventNode,
)
from wayline.journeys.spec import Journey

#: Channels every workspace has, until the runtime says otherwise.
DEFAULT_CHANNELS: Final = frozenset({"log", "email", "sms", "webhook", "inapp"})


@dataclass(frozen=True, kw_only=True)
class Known:
    """What exists in a workspace, for the checks that depend on it.

    ``None`` means "not known": names of that kind are not checked. The runtime passes a
    workspace's own sets when it validates a journey for that workspace.
    """

    channels: frozenset[str] = DEFAULT_CHANNELS
    templates: frozenset[str] | None = None
    segments: frozenset[str] | None = None
    journeys: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem, at a place in the document."""

    loc: Loc
    message: str
    #: For a name used twice: where it was first used (reported as "first on line N").
    first: Loc | None = None


@dataclass(kw_only=True)
class _Parts:
    """What the checks look at; the parts that failed their own validation are left out."""

    journey_id: str | None
    entry: Any
    goal: Goal | None
    exit_when: list[tuple[int, Any]]
    #: Every node id as written, with its index: also those of nodes that did not validate.
    written_ids: list[tuple[int, str]]
    written_types: dict[str, str]
    nodes: list[tuple[int, Node]]
    #: Whether every node validated, so the graph as a whole can be checked.
    complete: bool
    issues: list[Issue] = field(default_factory=list)

    def add(self, loc: Loc, message: str, first: Loc | None = None) -> None:
        self.issues.append(Issue(loc, message, first))


def check_journey(journey: Journey, known: Known | None = None) -> list[Issue]:
    """Every problem of a structurally valid journey, in document order."""
    parts = _Parts(
        journey_id=journey.id,
        entry=journey.entry,
        goal=journey.goal,
        exit_when=list(enumerate(journey.exit_when)),
        written_ids=[(i, node.id) for i, node in enumerate(journey.nodes)],
        written_types={node.id: node.type for node in reversed(journey.nodes)},
        nodes=list(enumerate(journey.nodes)),
        complete=True,
    )
    return _check(parts, known or Known())


@cache
def _adapter(kind: str) -> TypeAdapter[Any]:
    types: dict[str, Any] = {"node": Node, "entry": Entry, "exit": ExitCondition, "goal": Goal}
    return TypeAdapter(types[kind])


def _valid(kind: str, raw: Any) -> Any:
    try:
        return _adapter(kind).validate_python(raw)
    except ValidationError:
        return None


def check_data(data: Mapping[str, Any], known: Known | None = None) -> list[Issue]:
    """The checks that can still be made on a journey that failed validation.

    The loader reports the validation errors; this adds the problems of the parts that
    were fine, so that one run reports everything: links from the nodes that validated,
    and the whole graph when every node did.
    """
    raw_nodes = data.get("nodes")
    raw_nodes = raw_nodes if isinstance(raw_nodes, list) else []
    written_ids: list[tuple[int, str]] = []
    written_types: dict[str, str] = {}
    nodes: list[tuple[int, Node]] = []
    for index, raw in enumerate(raw_nodes):
        if isinstance(raw, Mapping) and isinstance(raw.get("id"), str):
            written_ids.append((index, raw["id"]))
            written_types.setdefault(raw["id"], str(raw.get("type")))
        node = _valid("node", raw)
        if node is not None:
            nodes.append((index, node))
    raw_exits = data.get("exit_when")
    raw_exits = [raw_exits] if isinstance(raw_exits, dict) else raw_exits
    exits = [(i, _valid("exit", raw)) for i, raw in enumerate(raw_exits or ())]
    journey_id = data.get("id")
    parts = _Parts(
        journey_id=journey_id if isinstance(journey_id, str) else None,
        entry=_valid("entry", data.get("entry")),
        goal=_valid("goal", data.get("goal")) if data.get("goal") is not None else None,
        exit_when=[(i, e) for i, e in exits if e is not None],
        written_ids=written_ids,
        written_types=written_types,
        nodes=nodes,
        complete=bool(raw_nodes) and len(nodes) == len(raw_nodes),
    )
    return _check(parts, known or Known())


def _check(parts: _Parts, known: Known) -> list[Issue]:
    _check_ids(parts)
    for index, node in parts.nodes:
        _check_links(parts, index, node)
        _check_node(parts, known, index, node)
    _check_keys(parts)
    _check_segments(parts, known)
    if parts.complete:
        _check_graph(parts)
    return parts.issues


def _suggest(name: str, names: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_ids(parts: _Parts) -> None:
    first: dict[str, int] = {}
    for index, node_id in parts.written_ids:
        if node_id in first:
            parts.add(
                ("nodes", index, "id"),
                f"the node id {node_id!r} is used twice",
                ("nodes", first[node_id], "id"),
            )
        else:
            first[node_id] = index


def _check_links(parts: _Parts, index: int, node: Node) -> None:
    ids = parts.written_types
    for loc, target in node.targets():
        if target not in ids:
            parts.add(("nodes", index, *loc), f"no node {target!r}{_suggest(target, ids)}")
    if isinstance(node, SplitNode):
        total = sum(node.variants.values())
        if total != 100:
            parts.add(("nodes", index, "variants"), f"the weights add up to {total}, not 100")
        for variant in node.variants:
            if variant not in node.next:
                parts.add(("nodes", index, "next"), f"variant {variant!r} has no next node")
        for variant in node.next:
            if variant not in node.variants:
                names = ", ".join(node.variants)
                parts.add(
                    ("nodes", index, "next", variant),
                    f"{variant!r} is not a variant of this split (variants: {names})",
                )
    if isinstance(node, BranchNode):
        for b, branch in enumerate(node.branches):
            for path, leaf in leaves(branch.when):
                message = getattr(leaf, "message", None)
                if not isinstance(message, str):
                    continue
                loc = ("nodes", index, "branches", b, "when", *path, "message")
                kind = ids.get(message)
                if kind is None:
                    parts.add(loc, f"no node {message!r}{_suggest(message, ids)}")
                elif kind != "send":
                    parts.add(loc, f"{message!r} is a {kind} node; message must name a send node")


def _check_node(parts: _Parts, known: Known, index: int, node: Node) -> None:
    if isinstance(node, SendNode):
        if node.channel not in known.channels:
            names = ", ".join(sorted(known.channels))
            close = difflib.get_close_matches(node.channel, list(known.channels), n=1)
            parts.add(
                ("nodes", index, "channel"),
                f"unknown channel {node.channel!r} (known: {names})"
                + (f"; did you mean {close[0]!r}?" if close else ""),
            )
        if known.templates is not None and node.template not in known.templates:
            parts.add(
                ("nodes", index, "template"),
                f"no template {node.template!r} in this workspace"
                + _suggest(node.template, known.templates),
            )
    if isinstance(node, GotoNode) and node.journey is not None:
        if node.journey == parts.journey_id:
            first = parts.written_ids[0][1] if parts.written_ids else "…"
            parts.add(
                ("nodes", index, "journey"),
                f"this is the journey itself; to start over, use node: {first}",
            )
        elif known.journeys is not None and node.journey not in known.journeys:
            parts.add(
                ("nodes", index, "journey"),
                f"no journey {node.journey!r} in this workspace"
                + _suggest(node.journey, known.journeys),
            )


def _key_problem(entry: Any) -> str | None:
    """Why a ``match_key`` cannot work with this entry, or ``None`` when it can."""
    if isinstance(entry, EventEntry):
        if entry.key is None:
            return (
                "match_key compares with the key the customer entered with, and the entry "
                "has none: add key (the path of the value to match, like "
                "properties.cart_id) to the entry"
            )
        return None
    kinds: dict[type, str] = {SegmentEntry: "a segment", ScheduleEntry: "a schedule"}
    kind = kinds.get(type(entry), "an api")
    return (
        f"match_key compares with the key the customer entered with, and {kind} entry has "
        "none (only an event entry has a key); remove match_key to match any event of "
        "the customer"
    )


def _check_keys(parts: _Parts) -> None:
    if parts.entry is None:
        return  # the entry is invalid and already reported
    reason = _key_problem(parts.entry)
    if reason is None:
        return
    if parts.goal is not None and parts.goal.match_key is not None:
        parts.add(("goal", "match_key"), reason)
    for index, condition in parts.exit_when:
        if getattr(condition, "match_key", None) is not None:
            parts.add(("exit_when", index, "match_key"), reason)
    for index, node in parts.nodes:
        if isinstance(node, WaitForEventNode) and node.match_key is not None:
            parts.add(("nodes", index, "match_key"), reason)


def _check_segments(parts: _Parts, known: Known) -> None:
    if known.segments is None:
        return
    segments = known.segments

    def check(loc: Loc, segment: str) -> None:
        if segment not in segments:
            parts.add(loc, f"no segment {segment!r} in this workspace{_suggest(segment, segments)}")

    if isinstance(parts.entry, SegmentEntry):
        check(("entry", "segment"), parts.entry.segment)
    if isinstance(parts.entry, ScheduleEntry) and parts.entry.audience != "all":
        check(("entry", "audience"), parts.entry.audience)
    for index, condition in parts.exit_when:
        if isinstance(condition, SegmentCondition):
            check(("exit_when", index, "segment"), condition.segment)
    for index, node in parts.nodes:
        if isinstance(node, BranchNode):
            for b, branch in enumerate(node.branches):
                for path, leaf in leaves(branch.when):
                    if isinstance(leaf, SegmentCondition):
                        loc = ("nodes", index, "branches", b, "when", *path, "segment")
                        check(loc, leaf.segment)


def _check_graph(parts: _Parts) -> None:
    """Reachability, wait-free loops and message conditions, on a graph of valid nodes."""
    index_of: dict[str, int] = {}
    for index, node in parts.nodes:
        index_of.setdefault(node.id, index)
    by_id = {node.id: node for _, node in reversed(parts.nodes)}
    edges = {
        node_id: [t for _, t in node.targets() if t in by_id] for node_id, node in by_id.items()
    }
    first = parts.nodes[0][1].id
    reached = reachable(edges, first)
    for index, node in parts.nodes:
        if node.id not in reached and index_of[node.id] == index:
            parts.add(
                ("nodes", index),
                f"never reached: nothing leads here from the first node {first!r}",
            )
    moving = {
        n: [t for t in ts if by_id[t].type not in WAITING_TYPES]
        for n, ts in edges.items()
        if by_id[n].type not in WAITING_TYPES
    }
    for loop in loops(moving, order=[node.id for _, node in parts.nodes]):
        path = " → ".join([*loop, loop[0]])
        parts.add(
            ("nodes", index_of[loop[0]]),
            f"a loop with no wait in it: {path}; a customer would go round it forever "
            "(add a delay, wait_until or wait_for_event to the loop)",
        )
    for index, node in parts.nodes:
        if not isinstance(node, BranchNode):
            continue
        for b, branch in enumerate(node.branches):
            for path_in, leaf in leaves(branch.when):
                sent = getattr(leaf, "message", None)
                sends = isinstance(sent, str) and isinstance(by_id.get(sent), SendNode)
                if sends and node.id not in reachable(edges, str(sent)):
                    parts.add(
                        ("nodes", index, "branches", b, "when", *path_in, "message"),
                        f"{sent!r} is never sent before this branch, so the answer is always no",
                    )
