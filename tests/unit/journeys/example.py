"""The issue's example journey, and helpers to load journey text in tests."""

from __future__ import annotations

import textwrap

import pytest

from wayline.errors import JourneyInvalid
from wayline.journeys import Journey, Known, load_journey_text

#: The abandoned-cart journey of the journey engine issue, exactly as written there.
EXAMPLE = """\
id: abandoned-cart
name: Abandoned cart recovery
entry:
  event: Product Added
  where: {properties.price: {gte: 10}}
  key: properties.cart_id            # correlation key, kept in the instance context
re_entry: {policy: after, cooldown: 7d}   # once | always | after
goal: {event: Order Completed, match_key: properties.cart_id, within: 7d, exit: true}
nodes:
  - id: wait_checkout
    type: wait_for_event
    event: Order Completed
    match_key: properties.cart_id     # only the order of this cart counts
    timeout: 1h
    on_event: done
    on_timeout: notify_crm
  - id: notify_crm
    type: webhook
    url: https://crm.example.com/hooks/cart
    body: {cart: "{{ journey.key }}", user: "{{ profile.user_id }}"}
    next: reminder
  - id: reminder
    type: send
    channel: email
    template: cart-reminder
    next: wait_a_day
  - id: wait_a_day
    type: delay
    duration: 1d
    next: opened
  - id: opened
    type: branch
    branches:
      - when: {message: reminder, opened: true}
        next: done
    default: split
  - id: split
    type: split
    variants: {discount: 45, no_discount: 45, control: 10}
    next: {discount: send_discount, no_discount: done, control: done}
  - id: send_discount
    type: send
    channel: email
    template: cart-discount
    next: done
  - id: done
    type: exit
"""


def load(text: str, known: Known | None = None) -> Journey:
    """Load dedented journey text named ``j.yaml``."""
    return load_journey_text(textwrap.dedent(text), "j.yaml", known=known)


def problems(text: str, known: Known | None = None) -> list[str]:
    """Every problem of dedented journey text, as printed; fails if it loads."""
    with pytest.raises(JourneyInvalid) as caught:
        load(text, known)
    return [str(p) for p in caught.value.problems]


def one_problem(text: str, known: Known | None = None) -> str:
    """The single problem of dedented journey text."""
    found = problems(text, known)
    assert len(found) == 1, found
    return found[0]


#: A journey head for node tests: an event entry with a key, the nodes to follow.
HEAD = """\
id: j
entry: {event: Signed Up, key: properties.account}
nodes:
"""
