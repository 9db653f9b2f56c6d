"""The plain-text part of an email, made from its HTML: paragraphs and list items kept,
links shown as ``text (url)``, styles, scripts and hidden parts left out."""

from __future__ import annotations

import re
from html.parser import HTMLParser

#: Elements that have no end tag: they never hide or skip what follows them.
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
    | {"source", "track", "wbr"}
)


class _TextExtractor(HTMLParser):
    """HTML to readable plain text: paragraphs kept, links shown as ``text (url)``.

    The open elements are kept on a stack, as a browser keeps them: an end tag closes its
    element and any left open inside it, a stray end tag closes nothing, and a void
    element (``<br>``, ``<img>``) is never open. What is inside a hidden element
    (``display:none``) or a style, script or head is left out.
    """

    _BLOCK = frozenset(
        {"p", "div", "br", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol"}
    )
    _SKIP = frozenset({"style", "script", "head", "title"})

    def __init__(self, liquid_links: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.liquid_links = liquid_links
        self.parts: list[str] = []
        #: The open elements: name, and whether each hides its content.
        self.open: list[tuple[str, bool]] = []
        self.hiding = 0
        self.links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(reversed(attrs))  # the first of a repeated attribute wins
        if tag not in _VOID:
            style = (named.get("style") or "").replace(" ", "").lower()
            hides = tag in self._SKIP or "display:none" in style
            self.open.append((tag, hides))
            self.hiding += hides
        if tag in self._BLOCK:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        if tag == "a":
            self.links.append(named.get("href"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:  # <div/> is an open <div> in HTML; written so, it is empty
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        hidden = self.hiding > 0  # a hidden link's target is hidden with its text
        if any(name == tag for name, _ in self.open):
            while self.open:
                name, hides = self.open.pop()
                self.hiding -= hides
                if name == tag:
                    break
        if tag == "a" and self.links:
            href = self.links.pop()
            linked = href and (
                href.startswith(("http://", "https://"))
                or (self.liquid_links and href.lstrip().startswith("{{"))
            )
            if linked and not hidden:
                self.parts.append(f" ({href})")
        if tag in self._BLOCK and tag != "li":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hiding:
            words = " ".join(data.split())
            if not words:
                self.parts.append(" ")
                return
            lead = " " if data[0].isspace() else ""
            trail = " " if data[-1].isspace() else ""
            self.parts.append(lead + words + trail)


def html_to_text(body: str, *, liquid_links: bool = False) -> str:
    """The plain-text part of an email, from its HTML. With ``liquid_links``, a link whose
    target is Liquid output (``{{ … }}``) is shown as a link too: the target is known once
    rendered."""
    parser = _TextExtractor(liquid_links)
    parser.feed(body)
    parser.close()
    return tidy_text("".join(parser.parts))


def tidy_text(text: str) -> str:
    """Plain text with its spaces collapsed, at most one empty line in a row."""
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
