"""The rules of webhook delivery that need no network: signatures, Retry-After, which
addresses the guard refuses, and how long a retry waits."""

from __future__ import annotations

import ipaddress
import random
from datetime import timedelta

import pytest

from wayline.channels.dispatcher import backoff
from wayline.channels.netguard import AllowList, refusal
from wayline.channels.signing import sign
from wayline.channels.webhook import MAX_RETRY_AFTER, retry_after


def test_signatures_match_the_standard_webhooks_test_vector() -> None:
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    ("value", "date", "want"),
    [
        ("120", None, timedelta(seconds=120)),
        (" 0 ", None, timedelta(0)),
        (
            "Wed, 21 Oct 2026 07:30:00 GMT",
            "Wed, 21 Oct 2026 07:28:00 GMT",
            timedelta(minutes=2),
        ),
        ("Wed, 21 Oct 2026 07:28:00 GMT", "Wed, 21 Oct 2026 07:30:00 GMT", timedelta(0)),
        ("99999999", None, MAX_RETRY_AFTER),
        ("soon", None, None),
        ("", None, None),
        (None, None, None),
    ],
)
def test_retry_after_is_seconds_or_a_date(
    value: str | None, date: str | None, want: timedelta | None
) -> None:
    assert retry_after(value, date) == want


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("::127.0.0.1", "loopback"),  # IPv4-compatible (deprecated) form
        ("::10.0.0.1", "private"),
        ("::a9fe:a9fe", "link-local"),  # ::169.254.169.254
        ("64:ff9b:1::a00:1", "NAT64 local-use"),
        ("64:ff9b:1:ffff::5db8:d70e", "NAT64 local-use"),  # whatever it embeds
        ("2002:c0a8:101::", "private"),  # 6to4 of 192.168.1.1
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("224.0.0.1", "multicast"),
        ("93.184.215.14", None),
        ("172.32.0.1", None),
        ("2606:4700::1111", None),
    ],
)
def test_the_guard_refuses_addresses_that_are_not_public(address: str, kind: str | None) -> None:
    assert refusal(ipaddress.ip_address(address)) == kind


def test_an_allow_list_holds_names_and_addresses() -> None:
    allowed = AllowList(" Hooks.Internal. , 127.0.0.1,[::1],, ")
    loopback = ipaddress.ip_address("127.0.0.1")
    assert allowed.allows("hooks.internal", ipaddress.ip_address("10.0.0.7"))
    assert allowed.allows("anything", loopback)
    assert allowed.allows("anything", ipaddress.ip_address("0:0::1"))
    assert not allowed.allows("other.internal", ipaddress.ip_address("10.0.0.7"))
    assert not AllowList("").allows("localhost", loopback)


def test_backoff_doubles_its_ceiling_up_to_an_hour() -> None:
    rng = random.Random(1)
    for attempts, ceiling in [(1, 5), (2, 10), (3, 20), (10, 2560), (11, 3600), (500, 3600)]:
        delays = [backoff(attempts, rng) for _ in range(200)]
        assert all(timedelta(0) <= d <= timedelta(seconds=ceiling) for d in delays)
        assert max(delays) > timedelta(seconds=ceiling / 2)  # spread over the whole range
