"""Reading the files users write (journeys, segments, controls, subscription groups): the
text of a file and its YAML or JSON document, or the one problem that stops it, at its line;
and checking a document against its model, each problem at its line and field.

Each kind of file raises its own error (``JourneyInvalid``, ``ControlsInvalid``…): the
caller passes the exception class, built from a list of problems.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from wayline.journeys.problems import Problem, format_path
from wayline.journeys.source import Loc, NotAMapping, Source, SourceError, parse

#: An error of one kind of file, made from its problems.
Invalid = Callable[[list[Problem]], Exception]

#: Where a validator's ``at`` (a path it names in its error's context) puts the problem,
#: given the location pydantic reported.
Relocate = Callable[[Loc, Sequence[Any]], Loc]

M = TypeVar("M", bound=BaseModel)


def read_text(path: str | Path, invalid: Invalid) -> str:
    """The file's text (UTF-8), or ``invalid`` naming the file when it cannot be read."""
    name = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise invalid([Problem(file=name, message="not UTF-8 text")]) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise invalid([Problem(file=name, message=f"cannot read: {reason}")]) from None


def read_document(
    text: str, source_name: str, invalid: Invalid, *, not_a_mapping: str | None = None
) -> Source:
    """The document of one mapping in ``text``, or ``invalid`` with the problem at its line.

    ``not_a_mapping`` says what the file should be when it is a list or a single value;
    ``{found}`` in it becomes "a list" or "a single value".
    """
    try:
        return parse(text)
    except SourceError as exc:
        message = exc.message
        if not_a_mapping is not None and isinstance(exc, NotAMapping):
            message = not_a_mapping.format(found=exc.found)
        position = exc.position
        raise invalid(
            [
                Problem(
                    file=source_name,
                    line=position.line if position else None,
                    column=position.column if position else None,
                    message=message,
                )
            ]
        ) from None


def _below(loc: Loc, at: Sequence[Any]) -> Loc:
    return (*loc, *at)


def validated(
    model: type[M],
    data: Any,
    source: Source | None,
    name: str,
    invalid: Invalid,
    *,
    fields: Sequence[str],
    relocate: Relocate = _below,
) -> M:
    """``data`` as a ``model``, or ``invalid`` with every problem at its line (``source``)
    or its field (data from an API body, ``source`` None). ``fields`` are the names an
    unknown field is compared with, to suggest the one meant."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(error, source, name, fields, relocate) for error in exc.errors()]
    unique = list(dict.fromkeys(problems))
    raise invalid(sorted(unique, key=lambda p: (p.line or 0, p.column or 0)))


def _problem(
    error: ErrorDetails,
    source: Source | None,
    name: str,
    fields: Sequence[str],
    relocate: Relocate,
) -> Problem:
    from wayline.journeys.loading import _message

    kind, loc = error["type"], tuple(error["loc"])
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if ctx.get("at"):
        loc = relocate(loc, ctx["at"])
    if kind == "missing":
        message, loc = f"missing field {loc[-1]!r}", loc[:-1]
    elif kind == "extra_forbidden":
        field = str(loc[-1])
        close = difflib.get_close_matches(field, fields, n=1, cutoff=0.6)
        message = f"unknown field {field!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    else:
        message = _message(error, loc)
    return problem_at(source, name, loc, message)


def problem_at(source: Source | None, name: str, loc: Loc, message: str) -> Problem:
    """A problem at ``loc``: its line and column in ``source``, or just its field."""
    if source is None:
        return Problem(file=name, path=format_path(loc), message=message)
    position = source.position(loc)
    return Problem(
        file=name,
        line=position.line,
        column=position.column,
        path=format_path(source.written(loc)),
        message=message,
    )
