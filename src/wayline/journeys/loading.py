"""Loading a journey file: read it, build the model, check it, report every problem.

Everything wrong is reported at once, each at its line: a YAML syntax error (alone, as
nothing after it can be read), else every field error pydantic finds together with every
problem of the parts that were fine (links, loops, weights, keys).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from wayline.errors import JourneyInvalid
from wayline.journeys import conditions, entries, filters, nodes, spec
from wayline.journeys.base import SpecModel
from wayline.journeys.conditions import CONDITION_TAGS, EXIT_TAGS
from wayline.journeys.entries import ENTRY_TAGS
from wayline.journeys.files import read_document, read_text
from wayline.journeys.nodes import NODE_MODELS
from wayline.journeys.problems import Problem, format_path
from wayline.journeys.source import Loc, Source
from wayline.journeys.spec import Journey
from wayline.journeys.validate import Issue, Known, check_data, check_journey

_NODE_TYPES = ", ".join(NODE_MODELS)
#: Steps of a pydantic location that name a union member, not a key of the file.
_TAGS = frozenset({*CONDITION_TAGS.values(), *EXIT_TAGS.values(), *ENTRY_TAGS.values()})


def load_journey(path: str | Path, *, known: Known | None = None) -> Journey:
    """Load and check a journey file (YAML or JSON). Raises :class:`JourneyInvalid`."""
    return load_journey_text(read_text(path, JourneyInvalid), str(path), known=known)


def load_journey_text(
    text: str, source_name: str = "<text>", *, known: Known | None = None
) -> Journey:
    """Load and check a journey from YAML or JSON text; ``source_name`` names it in messages.

    ``known`` says which channels, templates, segments and journeys a workspace has;
    without it, channels are checked against the built-in ones and the rest is not checked.
    Raises :class:`JourneyInvalid` with every problem found.
    """
    source = read_document(text, source_name, JourneyInvalid)
    try:
        journey = Journey.model_validate(source.data)
    except ValidationError as exc:
        problems = [_from_pydantic(error, source, source_name) for error in exc.errors()]
        problems += [_from_issue(i, source, source_name) for i in check_data(source.data, known)]
        raise JourneyInvalid(_in_order(problems)) from None
    issues = check_journey(journey, known)
    if issues:
        raise JourneyInvalid(_in_order([_from_issue(i, source, source_name) for i in issues]))
    return journey


def _in_order(problems: list[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.line or 0, p.column or 0))


def _locate(source: Source, name: str, loc: Loc, message: str, *, named: bool = False) -> Problem:
    """A problem at ``loc`` of the document, naming the node when it is in one.

    ``named``: the message names the last step itself (``unknown field 'tkey'``), so the
    path stops before it.
    """
    position = source.position(loc)
    written = source.written(loc)
    if named and written and written[-1] == loc[-1]:
        written = written[:-1]
    node = None
    raw_nodes = source.data.get("nodes")
    if len(written) >= 2 and written[0] == "nodes" and isinstance(raw_nodes, list):
        raw = raw_nodes[int(written[1])]
        raw_id = raw.get("id") if isinstance(raw, Mapping) else None
        if isinstance(raw_id, str):
            node, written = raw_id, written[2:]
    return Problem(
        file=name,
        line=position.line,
        column=position.column,
        node=node,
        path=format_path(written),
        message=message,
    )


def _from_issue(issue: Issue, source: Source, name: str) -> Problem:
    message = issue.message
    if issue.first is not None:
        message += f" (first on line {source.position(issue.first).line})"
    return _locate(source, name, issue.loc, message)


def _from_pydantic(error: ErrorDetails, source: Source, name: str) -> Problem:
    kind, loc = error["type"], tuple(error["loc"])
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if ctx.get("at"):
        loc = (*loc, *ctx["at"])
    if kind == "missing":
        # The missing field is not in the file: report it at the mapping that lacks it.
        return _locate(source, name, _strip_tags(loc[:-1]), f"missing field {loc[-1]!r}")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        loc = (*loc, "type")
    named = kind == "extra_forbidden"
    return _locate(source, name, _strip_tags(loc), _message(error, loc), named=named)


def _strip_tags(loc: Loc) -> Loc:
    """Drop the union tags pydantic puts into a location (``'send'`` after a node index)."""
    out: list[str | int] = []
    for i, step in enumerate(loc):
        if step in _TAGS:
            continue
        if i == 2 and loc[0] == "nodes" and step in NODE_MODELS:
            continue
        out.append(step)
    return tuple(out)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…'"


def _message(error: ErrorDetails, loc: Loc) -> str:
    kind, value = error["type"], error.get("input")
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "extra_forbidden":
        field = str(loc[-1])
        if field in _field_names():
            return f"unknown field {field!r} here"
        close = difflib.get_close_matches(field, _field_names(), n=1, cutoff=0.75)
        return f"unknown field {field!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind == "union_tag_invalid":
        return f"unknown node type {ctx.get('tag')!r} (one of: {_NODE_TYPES})"
    if kind == "union_tag_not_found":
        return f"missing field 'type' (one of: {_NODE_TYPES})"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("True", "true")
        return f"must be {expected}, not {_show(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping (key: value), not {_show(value)}"
    if kind == "list_type":
        return f"must be a list, not {_show(value)}"
    if kind == "string_type":
        return f"must be text, not {_show(value)} (put it in quotes)"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, not {_show(value)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number, not {_show(value)}"
    if kind.startswith(("datetime", "date_")):
        return f"not a date and time: {_show(value)} (use ISO 8601, like 2026-06-01T09:00:00)"
    if kind == "too_short":
        return "must not be empty"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}, not {_show(value)}"
    message = error["msg"].removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


@cache
def _field_names() -> tuple[str, ...]:
    """Every key a journey file can have, for "did you mean" suggestions."""
    names: set[str] = set()
    for module in (conditions, entries, filters, nodes, spec):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, SpecModel):
                names.update(info.alias or name for name, info in value.model_fields.items())
    return tuple(sorted(names))
