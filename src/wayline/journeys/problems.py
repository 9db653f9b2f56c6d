"""A problem found in a journey file, located for the person who has to fix it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class Problem:
    """One thing wrong with a journey, printed as ``file:line:col: node 'x': field: message``."""

    #: The file's name as given, or a name for text that came from elsewhere (``<api>``).
    file: str
    #: 1-based; ``None`` for problems of the file as a whole (it cannot be read).
    line: int | None = None
    column: int | None = None
    #: The id of the node the problem is in, if it is in one.
    node: str | None = None
    #: The field, from the node (or from the top of the file): ``branches[0].when.message``.
    path: str = ""
    message: str

    def __str__(self) -> str:
        parts = [self.file if self.line is None else f"{self.file}:{self.line}:{self.column}"]
        if self.node is not None:
            parts.append(f"node {self.node!r}")
        if self.path:
            parts.append(self.path)
        parts.append(self.message)
        return ": ".join(parts)


def format_path(loc: tuple[str | int, ...]) -> str:
    """``('branches', 0, 'when')`` as ``branches[0].when``."""
    text = ""
    for step in loc:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text
