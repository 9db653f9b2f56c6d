"""SMS: numbers in E.164, segments counted as carriers bill them."""

from __future__ import annotations

import pytest

from wayline.addresses import e164
from wayline.channels.sms import segments


@pytest.mark.parametrize(
    ("number", "region", "expected"),
    [
        ("+1 415-555-2671", None, "+14155552671"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+33 6 12 34 56 78", "US", "+33612345678"),
        ("415-555-2671", None, None),  # no country code and no region
        ("+1 555", None, None),
        ("not a number", "US", None),
    ],
)
def test_numbers_are_read_into_e164(number: str, region: str | None, expected: str | None) -> None:
    assert e164(number, region) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 160, ("GSM-7", 1)),
        ("a" * 161, ("GSM-7", 2)),
        ("a" * 306, ("GSM-7", 2)),
        ("a" * 307, ("GSM-7", 3)),
        ("€" * 80, ("GSM-7", 1)),  # an extension character counts twice
        ("€" * 81, ("GSM-7", 2)),
        ("é" * 160, ("GSM-7", 1)),  # in the basic set
        ("ç" * 70, ("UCS-2", 1)),  # lower-case ç is not GSM-7
        ("ç" * 71, ("UCS-2", 2)),
        ("😀" * 35, ("UCS-2", 1)),  # two UTF-16 units each
        ("😀" * 36, ("UCS-2", 2)),
    ],
)
def test_segments(text: str, expected: tuple[str, int]) -> None:
    assert segments(text) == expected
