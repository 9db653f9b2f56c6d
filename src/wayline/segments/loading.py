"""Loading segment files: read them, build the models, check references, report everything.

Problems are located like a journey's (``file:line:col: field: message``): a YAML error
alone, else every field error together with every reference problem (a segment that does
not exist, or a cycle of segments that refer to each other).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from wayline.errors import SegmentInvalid
from wayline.journeys.files import read_document, read_text
from wayline.journeys.loading import _message as journey_message
from wayline.journeys.problems import Problem, format_path
from wayline.journeys.source import Loc, Source
from wayline.segments.spec import CONDITION_TAGS, Segment, references

_TAGS = frozenset(CONDITION_TAGS.values())


@dataclass(frozen=True, slots=True)
class Loaded:
    """A valid segment and where it came from (to place problems found across files)."""

    segment: Segment
    source: Source
    name: str


def read_segment(path: str | Path) -> Loaded:
    """Read and check one file on its own (references are checked by :func:`check_refs`)."""
    return read_segment_text(read_text(path, SegmentInvalid), str(path))


def read_segment_text(text: str, source_name: str = "<text>") -> Loaded:
    source = read_document(
        text,
        source_name,
        SegmentInvalid,
        not_a_mapping="a segment is a mapping of keys (id, name, where), not {found}",
    )
    try:
        segment = Segment.model_validate(source.data)
    except ValidationError as exc:
        problems = [_from_pydantic(e, source, source_name) for e in exc.errors()]
        raise SegmentInvalid(_in_order(problems)) from None
    return Loaded(segment, source, source_name)


def load_segments(
    paths: Iterable[str | Path], stored: Mapping[str, Segment] | None = None
) -> list[Segment]:
    """Load segment files together and check their references against each other and
    against the workspace's ``stored`` segments (``None``: references are not checked).

    Raises :class:`SegmentInvalid` with every problem of every file.
    """
    loaded: list[Loaded] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            loaded.append(read_segment(path))
        except SegmentInvalid as exc:
            problems += exc.problems
    if stored is not None:
        problems += check_refs(loaded, stored)
    if problems:
        raise SegmentInvalid(problems)
    return [item.segment for item in loaded]


def check_refs(loaded: list[Loaded], stored: Mapping[str, Segment]) -> list[Problem]:
    """Missing segments and cycles, with the new files taking the place of stored ones."""
    problems: list[Problem] = []
    seen: dict[str, Loaded] = {}
    for item in loaded:
        if item.segment.id in seen:
            problems.append(
                _at(
                    item,
                    ("id",),
                    f"segment {item.segment.id!r} is also in {seen[item.segment.id].name}",
                )
            )
        seen[item.segment.id] = item
    every = {**stored, **{sid: item.segment for sid, item in seen.items()}}
    for item in loaded:
        for loc, ref in references(item.segment):
            if ref not in every:
                close = difflib.get_close_matches(ref, list(every), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(_at(item, loc, f"no segment {ref!r} in this workspace{hint}"))
    reported: set[frozenset[str]] = set()
    for item in loaded:
        for loc, ref in references(item.segment):
            path = _path_back(every, ref, item.segment.id)
            if path is None:
                continue
            cycle = [item.segment.id, *path]
            key = frozenset(cycle)
            if key in reported:
                continue
            reported.add(key)
            problems.append(
                _at(item, loc, "segments refer to each other in a cycle: " + " -> ".join(cycle))
            )
    return _in_order(problems)


def _path_back(every: Mapping[str, Segment], start: str, target: str) -> list[str] | None:
    """A chain of references from ``start`` to ``target`` (both included), if there is one."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    visited: set[str] = set()
    while stack:
        current, path = stack.pop()
        if current == target:
            return path
        if current in visited or current not in every:
            continue
        visited.add(current)
        for _, ref in references(every[current]):
            stack.append((ref, [*path, ref]))
    return None


def _at(item: Loaded, loc: Loc, message: str) -> Problem:
    position = item.source.position(loc)
    return Problem(
        file=item.name,
        line=position.line,
        column=position.column,
        path=format_path(item.source.written(loc)),
        message=message,
    )


def _in_order(problems: list[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.file, p.line or 0, p.column or 0))


def _from_pydantic(error: ErrorDetails, source: Source, name: str) -> Problem:
    kind, loc = error["type"], tuple(error["loc"])
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if ctx.get("at"):
        loc = (*loc, *ctx["at"])
    loc = tuple(step for step in loc if step not in _TAGS)
    if kind == "missing":
        return _place(source, name, loc[:-1], f"missing field {loc[-1]!r}")
    if kind == "extra_forbidden":
        written = source.written(loc)
        position = source.position(loc)
        return Problem(
            file=name,
            line=position.line,
            column=position.column,
            path=format_path(written[:-1] if written and written[-1] == loc[-1] else written),
            message=f"unknown field {loc[-1]!r}",
        )
    return _place(source, name, loc, journey_message(error, loc))


def _place(source: Source, name: str, loc: Loc, message: str) -> Problem:
    position = source.position(loc)
    return Problem(
        file=name,
        line=position.line,
        column=position.column,
        path=format_path(source.written(loc)),
        message=message,
    )
