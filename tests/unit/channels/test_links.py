"""Rewriting an HTML body in place: tracked links, the open pixel, the preheader; the
plain text of a body; email addresses."""

from __future__ import annotations

import pytest

from wayline.channels.email import EmailSettings, valid_address
from wayline.channels.plaintext import html_to_text
from wayline.channels.templates import add_preheader
from wayline.channels.tracking import add_pixel, track_links


def click(url: str) -> str:
    return f"https://wl.example.com/t/click/{len(url)}"


def track(body: str) -> str:
    return track_links(body, click, lambda url: url.startswith("https://wl.example.com/"))


@pytest.mark.parametrize(
    ("body", "tracked"),
    [
        # the href after a data-href
        (
            '<a data-href="https://shop.example/d" href="https://shop.example/a">A</a>',
            '<a data-href="https://shop.example/d" href="https://wl.example.com/t/click/22">A</a>',
        ),
        # a link after an attribute holding ">"
        (
            '<img alt="a > b"><a title="1 > 0" href="https://shop.example/a">A</a>',
            '<img alt="a > b"><a title="1 > 0" href="https://wl.example.com/t/click/22">A</a>',
        ),
        # an unquoted href, and an upper-case one
        (
            "<a href=https://shop.example/a class=x>A</a><A HREF='https://shop.example/b'>B</A>",
            '<a href="https://wl.example.com/t/click/22" class=x>A</a>'
            '<A HREF="https://wl.example.com/t/click/22">B</A>',
        ),
        # an escaped ampersand is the link's "&"
        (
            '<a href="https://shop.example/?a=1&amp;b=2">A</a>',
            '<a href="https://wl.example.com/t/click/29">A</a>',
        ),
    ],
)
def test_every_link_is_tracked_where_a_browser_sees_it(body: str, tracked: str) -> None:
    assert track(body) == tracked


def test_what_is_not_a_link_is_left_as_it_is() -> None:
    body = (
        '<!-- <a href="https://shop.example/old">old</a> -->'
        "<script>var s = '<a href=\"https://shop.example/js\">';</script>"
        '<p data-href="https://shop.example/p">x</p>'
        '<a href="mailto:help@shop.example">mail</a><a name="top">top</a>'
        '<a href="https://wl.example.com/t/unsubscribe/x">own</a>'
    )
    assert track(body) == body


def test_the_pixel_goes_before_the_real_end_of_the_body() -> None:
    body = "<html><body><p>Hi</p></body></html><!-- </body> -->"
    out = add_pixel(body, "https://wl.example.com/t/open/x")
    assert out.startswith("<html><body><p>Hi</p><img src=")
    assert out.endswith("/></body></html><!-- </body> -->")
    assert add_pixel("<p>Hi</p>", "https://o").startswith("<p>Hi</p><img src=")


def test_the_preheader_goes_after_the_real_start_of_the_body() -> None:
    body = '<html><head><!-- <body> --><style>a[x="<body>"]{}</style></head><body class="b">Hi'
    out = add_preheader(body, "Peek")
    assert out.startswith(body[: -len("Hi")])
    assert out.endswith('aria-hidden="true">Peek</div>Hi')


def test_text_after_a_hidden_void_element_is_kept() -> None:
    body = '<div style="display:none">x<br></div><p>Hello</p><img src="a.png"><p>Bye</p>'
    assert html_to_text(body) == "Hello\n\nBye\n"
    nested = '<div style="display: none"><p>one<div>two</div><span>three</div><p>Shown</p>'
    assert html_to_text(nested) == "Shown\n"


@pytest.mark.parametrize(
    "address",
    [
        "ann@example..com",
        "ann@-example.com",
        "ann.@example.com",
        "ann@exam_ple.com",
        "ann@.example.com",
        "ann@example",
        "ann@@example.com",
        "Ann <ann@example.com>",
        "ann@example.com\r\nBcc: all@example.com",
    ],
)
def test_an_address_is_checked_by_its_syntax_not_by_its_at_sign(address: str) -> None:
    assert not valid_address(address)
    with pytest.raises(ValueError, match="not an email address"):
        EmailSettings(host="smtp.example.com", from_email=address)


def test_valid_addresses_pass() -> None:
    for address in ("ann@example.com", "ann+news@mail.example.co.uk", "zoë@example.com"):
        assert valid_address(address)


def test_a_link_target_is_read_as_a_browser_reads_it() -> None:
    seen: list[str] = []

    def remember(url: str) -> str:
        seen.append(url)
        return "https://wl.example.com/t/click/x"

    track_links(
        '<a href="https://shop.example/?a=1&region=eu&amp;b=2&#38;c=3">A</a>'
        '<a href=" HTTPS://shop.example/up ">B</a>',
        remember,
        lambda url: False,
    )
    assert seen == ["https://shop.example/?a=1&region=eu&b=2&c=3", "https://shop.example/up"]
