"""The fenced code blocks of README.md and docs/*.md, as a reader meets them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
#: Shell languages: a block in one of them shows commands to type.
SHELLS: Final = frozenset({"bash", "sh", "shell", "console"})
_FENCE: Final = re.compile(r"^```([\w-]*)([^\n]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True, kw_only=True)
class Block:
    path: Path
    #: The line of the opening fence.
    line: int
    language: str
    #: The words after the language: ``runnable``, or ``norun`` and the reason.
    info: tuple[str, ...]
    body: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def runnable(self) -> bool:
        return "runnable" in self.info

    @property
    def norun(self) -> bool:
        return bool(self.info) and self.info[0].rstrip(":") == "norun"


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(path: Path) -> Iterator[Block]:
    text = path.read_text()
    for match in _FENCE.finditer(text):
        yield Block(
            path=path,
            line=text.count("\n", 0, match.start()) + 1,
            language=match.group(1),
            info=tuple(match.group(2).split()),
            body=match.group(3),
        )


def shell_blocks() -> list[Block]:
    return [b for path in documents() for b in blocks(path) if b.language in SHELLS]
