"""Changing an HTML body in place: where its tags are, as the standard library's HTML
tokenizer (``html.parser``) reads them.

Click tracking rewrites links, and the open pixel, the preheader and the unsubscribe
footer go at the start or end of the ``<body>``. A regular expression over the text finds
an ``href`` inside another attribute (``data-href``), stops at a ``>`` inside a quoted
value, misses an unquoted value, and finds tags inside comments and scripts. The
tokenizer finds the tags a browser would; everything it is not asked to change is kept
character for character.
"""

from __future__ import annotations

import html
import html.entities
import html.parser
import re
from collections.abc import Callable
from dataclasses import dataclass

# the tokenizer's own patterns for a tag name and an attribute, so that an attribute's
# place in the text is found exactly as the tokenizer found its value
_TAG_NAME: re.Pattern[str] = getattr(html.parser, "tagfind_tolerant")  # noqa: B009
_ATTRIBUTE: re.Pattern[str] = getattr(html.parser, "attrfind_tolerant")  # noqa: B009


@dataclass(frozen=True, slots=True)
class Tag:
    """A start tag: where it is in the text, its name (lower case) and its raw text."""

    start: int
    name: str
    text: str

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True, slots=True)
class EndTag:
    start: int
    name: str


class _Tokens(html.parser.HTMLParser):
    def __init__(self, body: str) -> None:
        super().__init__(convert_charrefs=False)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", body)]
        self.tags: list[Tag] = []
        self.end_tags: list[EndTag] = []

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(Tag(self._offset(), tag, self.get_starttag_text() or ""))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self.end_tags.append(EndTag(self._offset(), tag))


def tokens(body: str) -> tuple[list[Tag], list[EndTag]]:
    """The start and end tags of ``body``, in order (not those in comments or scripts)."""
    parser = _Tokens(body)
    parser.feed(body)
    parser.close()
    return parser.tags, parser.end_tags


def _attribute_value(raw: str | None) -> str | None:
    """An attribute's value as a browser reads it: unquoted, character references
    resolved (:func:`unescape_attribute`)."""
    if raw is None:
        return None
    if raw[:1] == raw[-1:] and raw[:1] in ("'", '"') and len(raw) >= 2:
        raw = raw[1:-1]
    return unescape_attribute(raw)


_REFERENCE = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")


def unescape_attribute(value: str) -> str:
    """Character references resolved as HTML does in an attribute value: a named one
    written without its ``;`` and followed by a letter, digit or ``=`` is text, so a link's
    ``?a=1&region=eu`` keeps its ``&region`` (``html.unescape`` would give ``®ion``)."""

    def resolve(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref.startswith("#") or (ref.endswith(";") and ref in html.entities.html5):
            return html.unescape(match.group(0))
        for end in range(min(len(ref), 32), 0, -1):
            if ref[:end] in html.entities.html5 and not ref[:end].endswith(";"):
                after = ref[end : end + 1]
                if after and (after.isalnum() or after == "="):
                    return match.group(0)
                return html.entities.html5[ref[:end]] + ref[end:]
        return match.group(0)

    return _REFERENCE.sub(resolve, value)


def rewrite_attribute(
    body: str, tags: frozenset[str], attribute: str, rewrite: Callable[[str], str | None]
) -> str:
    """``body`` with the first ``attribute`` of each start tag named in ``tags`` given the
    value ``rewrite`` returns for it (None: left as it is). Nothing else changes."""
    out: list[str] = []
    done = 0
    for tag in tokens(body)[0]:
        if tag.name not in tags:
            continue
        found = _find_attribute(tag.text, attribute)
        if found is None:
            continue
        start, end, value = found
        new = rewrite(value)
        if new is None:
            continue
        name = tag.text[start:end].split("=", 1)[0].rstrip()
        out.append(body[done : tag.start + start])
        out.append(f'{name}="{html.escape(new, quote=True)}"')
        done = tag.start + end
    out.append(body[done:])
    return "".join(out)


def _find_attribute(text: str, attribute: str) -> tuple[int, int, str] | None:
    """Where the first ``attribute`` with a value is in a start tag's text (name to end
    of value), and its value."""
    name = _TAG_NAME.match(text, 1)
    if name is None:
        return None
    k = name.end()
    while k < len(text):
        m = _ATTRIBUTE.match(text, k)
        if m is None or m.end() == k:
            break
        if m.group(1).lower() == attribute:
            value = _attribute_value(m.group(3))
            if value is None:
                return None
            return m.start(1), m.end(3), value
        k = m.end()
    return None


def before_body_end(body: str, fragment: str) -> str:
    """``fragment`` just before the body's closing ``</body>``, or at the end."""
    ends = [t for t in tokens(body)[1] if t.name == "body"]
    if not ends:
        return body + fragment
    at = ends[-1].start
    return body[:at] + fragment + body[at:]


def after_body_start(body: str, fragment: str) -> str:
    """``fragment`` just after the body's opening ``<body …>``, or at the start."""
    for tag in tokens(body)[0]:
        if tag.name == "body":
            return body[: tag.end] + fragment + body[tag.end :]
    return fragment + body
