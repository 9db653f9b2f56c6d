"""Reading the files users write (journeys, segments, controls, subscription groups): the
text of a file and its YAML or JSON document, or the one problem that stops it, at its line.

Each kind of file raises its own error (``JourneyInvalid``, ``ControlsInvalid``…): the
caller passes the exception class, built from a list of problems.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wayline.journeys.problems import Problem
from wayline.journeys.source import NotAMapping, Source, SourceError, parse

#: An error of one kind of file, made from its problems.
Invalid = Callable[[list[Problem]], Exception]


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
