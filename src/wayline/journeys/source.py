"""Reading journey text: YAML (and so JSON) with the position of every key kept.

PyYAML's composer gives each mapping, sequence and scalar the mark (line, column) where it
starts. :class:`Source` keeps that tree beside the plain data, so an error found later by
pydantic (``('nodes', 3, 'timeout')``) or by the graph checks is reported at its line.

Values are read the YAML 1.2 way, not PyYAML's YAML 1.1 way. Under 1.1, ``on`` and ``no``
are booleans (so ``{segment: vip, on: exited}`` would lose its key, and the country code
``NO`` would be ``false``), ``18:00`` is the number 1080 and ``2026-06-01`` a date object.
Here only ``true``/``false`` are booleans, only plain numbers are numbers, and dates stay
text until a field that wants a date reads them: a JSON file and its YAML twin load alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

#: A place in the document: keys and list indexes from the top.
Loc = tuple[str | int, ...]

#: More values than this (counting each use of an alias) is refused: a few aliases of
#: aliases can otherwise expand a small file into billions of values.
MAX_VALUES: Final = 100_000


class _Resolver(BaseResolver):
    """The YAML 1.2 core schema: null, true/false, numbers; everything else is text."""


_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_Resolver.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])


class _Constructor(SafeConstructor):
    """SafeConstructor, reading ``0o17`` as octal (YAML 1.2) rather than ``017``."""

    def construct_yaml_int(self, node: ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        if text.startswith("0o"):
            return int(text[2:], 8)
        return int(text, 0) if text.startswith("0x") else int(text)


_Constructor.add_constructor(  # type: ignore[type-var]
    "tag:yaml.org,2002:int", _Constructor.construct_yaml_int
)


class _Loader(Reader, Scanner, Parser, Composer, _Constructor, _Resolver):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)


@dataclass(frozen=True, kw_only=True, slots=True)
class Position:
    """A 1-based line and column."""

    line: int
    column: int


class SourceError(Exception):
    """The text is not a YAML or JSON document of one mapping; ``position`` says where."""

    def __init__(self, message: str, position: Position | None) -> None:
        super().__init__(message)
        self.message, self.position = message, position


class NotAMapping(SourceError):
    """The document is a list or a single value, not a mapping of keys."""

    def __init__(self, found: str, position: Position | None) -> None:
        super().__init__(
            f"a journey is a mapping of keys (id, entry, nodes…), not {found}", position
        )
        #: "a list" or "a single value".
        self.found = found


@dataclass(frozen=True, slots=True)
class Source:
    """The data of a document and the YAML tree it came from."""

    data: Any
    root: Node

    def position(self, loc: Loc) -> Position:
        """Where ``loc`` is written: the key of its last step that is in the document.

        Steps that are not in the document (a union's tag in a pydantic location, or a
        missing field) are passed over, so the place reported is the nearest one written.
        """
        return self._follow(loc)[1]

    def written(self, loc: Loc) -> Loc:
        """The steps of ``loc`` that are in the document, in order."""
        return self._follow(loc)[0]

    def _follow(self, loc: Loc) -> tuple[Loc, Position]:
        node, mark = self.root, self.root.start_mark
        steps: list[str | int] = []
        for step in loc:
            if isinstance(node, MappingNode):
                for key, value in node.value:
                    if isinstance(key, ScalarNode) and key.value == step:
                        mark, node = key.start_mark, value
                        steps.append(step)
                        break
            elif isinstance(node, SequenceNode) and isinstance(step, int):
                if not 0 <= step < len(node.value):
                    break
                node = node.value[step]
                mark = node.start_mark
                steps.append(step)
        return tuple(steps), Position(line=mark.line + 1, column=mark.column + 1)


def _mark_position(error: yaml.MarkedYAMLError) -> Position | None:
    mark = error.problem_mark or error.context_mark
    return Position(line=mark.line + 1, column=mark.column + 1) if mark else None


def _untab_json(text: str) -> str:
    """JSON indented with tabs, which YAML refuses. In valid JSON a raw tab can only be
    whitespace between tokens, so each becomes one space and every column stays put."""
    if "\t" not in text or not text.lstrip().startswith(("{", "[")):
        return text
    try:
        json.loads(text)
    except ValueError:
        return text
    return text.replace("\t", " ")


def parse(text: str) -> Source:
    """Read one YAML or JSON document. Raises :class:`SourceError`."""
    loader = _Loader(_untab_json(text))
    try:
        root = loader.get_single_node()
        if root is None:
            raise SourceError("the file is empty", None)
        _check_keys(root)
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        problem = (exc.problem or str(exc)).strip()
        raise SourceError(f"not valid YAML: {problem}", _mark_position(exc)) from None
    except yaml.YAMLError as exc:
        raise SourceError(f"not valid YAML: {exc}", None) from None
    except RecursionError:
        raise SourceError("nested too deeply", None) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        start = root.start_mark
        raise NotAMapping(
            "a list" if isinstance(data, list) else "a single value",
            Position(line=start.line + 1, column=start.column + 1),
        )
    return Source(data, root)


def _check_keys(root: Node) -> None:
    """Refuse duplicate keys (PyYAML keeps the last silently) and alias bombs."""
    count = 0
    for node in _walk(root):
        count += 1
        if count > MAX_VALUES:
            raise SourceError(f"too large: more than {MAX_VALUES} values", None)
        if isinstance(node, MappingNode):
            seen: dict[str, int] = {}
            for key, _value in node.value:
                if not isinstance(key, ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                    continue
                if key.value in seen:
                    raise SourceError(
                        f"duplicate key {key.value!r} (first on line {seen[key.value]})",
                        Position(line=key.start_mark.line + 1, column=key.start_mark.column + 1),
                    )
                seen[key.value] = key.start_mark.line + 1


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, MappingNode):
            for key, value in current.value:
                stack.extend((value, key))
        elif isinstance(current, SequenceNode):
            stack.extend(reversed(current.value))
