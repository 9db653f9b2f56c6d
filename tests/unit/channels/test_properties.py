"""Properties over generated input: the MIME writer round-trips through the standard
library's parser, link rewriting changes every link once and nothing else, the text
writer keeps every visible word."""

from __future__ import annotations

import html
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from wayline.channels import mime
from wayline.channels.email import EmailSettings, compose_bytes
from wayline.channels.plaintext import html_to_text
from wayline.channels.templates import RenderedEmail
from wayline.channels.tracking import MessageLinks, track_links

EXAMPLES = settings(max_examples=150, deadline=None)

# text as templates render it: any character but surrogates and most controls
_TEXT = st.characters(blacklist_categories=("Cs", "Cc"))
_LINE = st.text(_TEXT, max_size=80)


def _one_line(text: str) -> str:
    """Spaces collapsed, as the renderer writes a subject."""
    return " ".join(text.split())


# -- the MIME writer ------------------------------------------------------------------------


@EXAMPLES
@given(
    name=_LINE.map(_one_line),
    subject=st.text(_TEXT, max_size=300).map(_one_line),
    text=st.lists(_LINE, max_size=8).map("\n".join),
    body=st.lists(_LINE, max_size=8).map("\n".join),
)
def test_a_written_message_reads_back_the_same(
    name: str, subject: str, text: str, body: str
) -> None:
    headers = [
        ("From", mime.address(name, "shop@example.com")),
        ("To", "ann@example.com"),
        ("Subject", subject),
        ("Message-ID", "<abc@example.com>"),
    ]
    raw = mime.alternative(headers, text, body)
    mail = message_from_bytes(raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    sender = mail["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == (name, "shop@example.com")
    assert mail["Subject"] == subject
    assert mail["To"] == "ann@example.com"
    plain, rich = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None
    assert rich is not None
    assert plain.get_content().replace("\r\n", "\n").rstrip("\n") == text.rstrip("\n")
    assert rich.get_content().replace("\r\n", "\n").rstrip("\n") == body.rstrip("\n")
    assert all(len(line) <= mime.MAX_HEADER for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")


@EXAMPLES
@given(
    name=st.text(st.characters(blacklist_categories=["Cs"]), max_size=40).map(_one_line),
    subject=st.text(_TEXT, max_size=300).map(_one_line),
    text=st.lists(_LINE, max_size=8).map("\n".join),
    body=st.lists(_LINE.map(html.escape), max_size=8).map("\n".join),
    marketing=st.booleans(),
)
def test_a_composed_email_reads_back_with_its_headers_and_parts(
    name: str, subject: str, text: str, body: str, marketing: bool
) -> None:
    unsubscribe = "https://wl.example.com/t/unsubscribe/" + "t" * 200
    links = MessageLinks(
        open_url="https://wl.example.com/t/open/x", unsubscribe_url=unsubscribe, click=click
    )
    raw = compose_bytes(
        RenderedEmail(subject=subject, preheader="", html=body, text=text),
        settings=EmailSettings(
            host="smtp.example.com", from_email="shop@example.com", from_name=name or None
        ),
        to="ann@example.com",
        message_id="<abc@example.com>",
        links=links,
        marketing=marketing,
        keep=lambda _url: False,
        date="Mon, 07 Dec 2026 03:00:00 +0000",
    )
    mail = message_from_bytes(raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    sender = mail["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == (name, "shop@example.com")
    assert mail["Subject"] == subject
    assert mail["Message-ID"] == "<abc@example.com>"
    assert (mail["List-Unsubscribe"] == f"<{unsubscribe}>") is marketing
    plain, rich = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None
    assert rich is not None
    assert plain.get_content().replace("\r\n", "\n").startswith(text.rstrip("\n"))
    assert rich.get_content().replace("\r\n", "\n").startswith(body)
    assert "/t/open/x" in rich.get_content()


# -- link rewriting -------------------------------------------------------------------------

_NAMES = st.sampled_from(["class", "title", "data-href", "style", "id", "target", "hreflang"])
_VALUE = st.text(st.sampled_from("ab <>=/&'\"\n href:x"), max_size=12)
_URL = st.builds(
    lambda scheme, path: f"{scheme}://shop.example/{path}",
    st.sampled_from(["http", "https"]),
    st.text(st.sampled_from("abc/?=&#%-_.~"), max_size=20),
)


def _attribute(name: str, value: str) -> str:
    return f' {name}="{html.escape(value, quote=True)}"'


def click(url: str) -> str:
    return "https://wl.example.com/t/click/" + quote(url, safe="")


@st.composite
def _link(draw: st.DrawFn) -> tuple[str, str]:
    """A link as written, and as it is once tracked."""
    url = draw(_URL)
    before = "".join(_attribute(n, v) for n, v in draw(st.lists(st.tuples(_NAMES, _VALUE))))
    after = "".join(_attribute(n, v) for n, v in draw(st.lists(st.tuples(_NAMES, _VALUE))))
    spelled = draw(st.sampled_from(["href", "HREF", "Href"]))
    quoting = draw(st.sampled_from(['"', "'", ""]))
    written = html.escape(url, quote=True)
    if not quoting:
        written = written.replace("&amp;", "&#38;")  # an unquoted value: no "&…;" surprises
    tag = draw(st.sampled_from(["a", "A", "area"]))
    source = f"<{tag}{before} {spelled}={quoting}{written}{quoting}{after}>"
    tracked = f'<{tag}{before} {spelled}="{html.escape(click(url), quote=True)}"{after}>'
    return source, tracked


_PIECE = st.one_of(
    _link(),
    _LINE.map(lambda t: (html.escape(t, quote=False),) * 2),
    st.sampled_from(["<p>", "</p>", "<br>", "</a>", "<img src='x.png' alt='a > b'/>"]).map(
        lambda t: (t, t)
    ),
    # links inside comments and scripts are not links
    _URL.map(lambda u: (f'<!-- <a href="{u}">old</a> -->',) * 2),
    _URL.map(lambda u: (f"<script>var a = '<a href=\"{u}\">';</script>",) * 2),
    _URL.map(lambda u: (f'<p data-href="{u}">',) * 2),
)


@EXAMPLES
@given(st.lists(_PIECE, max_size=12))
def test_every_link_is_rewritten_once_and_nothing_else_changes(
    pieces: list[tuple[str, str]],
) -> None:
    source = "".join(p[0] for p in pieces)
    expected = "".join(p[1] for p in pieces)
    assert track_links(source, click, lambda _url: False) == expected
    # tracked links are left alone when tracked again
    assert track_links(expected, click, lambda u: u.startswith("https://wl.example.com/")) == (
        expected
    )


# -- the text writer ------------------------------------------------------------------------

_WORD = st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True)


@st.composite
def _html(draw: st.DrawFn, depth: int = 0) -> tuple[str, list[str]]:
    """Some HTML and the words a reader sees in it, in order."""
    out: list[str] = []
    seen: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["word", "void", "element", "hidden", "style"]))
        if kind == "word":
            word = draw(_WORD)
            out.append(f" {word} ")
            seen.append(word)
        elif kind == "void":
            out.append(draw(st.sampled_from(["<br>", "<img src='a.png'>", "<hr/>", "<wbr>"])))
        elif kind == "style":
            out.append("<style>p { color: red }</style>")
        elif depth < 3:
            tag = draw(st.sampled_from(["p", "div", "span", "b", "li", "td", "a"]))
            inner, words = draw(_html(depth + 1))
            if kind == "hidden":
                out.append(f'<{tag} style="display: none">{inner}</{tag}>')
            else:
                attrs = " href='https://x.example/'" if tag == "a" else ""
                out.append(f"<{tag}{attrs}>{inner}</{tag}>")
                seen.extend(words)
    return "".join(out), seen


@EXAMPLES
@given(_html())
def test_every_visible_word_survives_in_order(made: tuple[str, list[str]]) -> None:
    body, words = made
    text = html_to_text(body)
    found = [w for w in re.split(r"[\s()\-]+", text) if w and not w.startswith("https:")]
    assert found == words
