"""Origins as browsers send them: normalising what people type, and matching."""

from __future__ import annotations

import pytest

from wayline.origins import InvalidOrigin, normalise_origin, origin_allowed


@pytest.mark.parametrize(
    ("text", "origin"),
    [
        ("https://shop.example.com", "https://shop.example.com"),
        (" HTTPS://Shop.Example.COM/ ", "https://shop.example.com"),
        ("https://shop.example.com:443", "https://shop.example.com"),
        ("http://localhost:80", "http://localhost"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://*.example.com", "https://*.example.com"),
        ("capacitor://localhost", "capacitor://localhost"),
        ("http://[::1]:3000", "http://[::1]:3000"),
    ],
)
def test_normalised_as_the_origin_header(text: str, origin: str) -> None:
    assert normalise_origin(text) == origin


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("shop.example.com", "scheme://host"),
        ("https://shop.example.com/cart", "no path"),
        ("https://shop.example.com?x=1", "no path"),
        ("https://user@shop.example.com", "user name"),
        ("https://shop.example.com:99999", "port"),
        ("https://shop example.com", "host"),
        ("https://", "host"),
    ],
)
def test_what_is_not_an_origin_says_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidOrigin) as caught:
        normalise_origin(text)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://shop.example.com", True),
        ("https://shop.example.com/", True),
        ("https://a.b.example.org", True),
        ("https://example.org", False),
        ("http://a.example.org", False),
        ("https://a.example.org:8443", False),
        ("https://badexample.org", False),
        ("https://shop.example.com:8443", False),
        ("null", False),
    ],
)
def test_matching(origin: str, allowed: bool) -> None:
    assert origin_allowed(origin, ["https://shop.example.com", "https://*.example.org"]) is allowed
