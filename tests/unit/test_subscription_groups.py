"""The subscription groups file: what it accepts, and where it says a problem is."""

from __future__ import annotations

from pathlib import Path

import pytest

from wayline.subscription_groups import (
    SubscriptionGroupsInvalid,
    groups_from_data,
    load_groups,
    load_groups_text,
)


def _problems(text: str) -> list[str]:
    with pytest.raises(SubscriptionGroupsInvalid) as caught:
        load_groups_text(text, "g.yaml")
    return [str(p) for p in caught.value.problems]


def test_a_full_file_reads() -> None:
    spec = load_groups_text(
        """
subscription_groups:
  - channel: email
    topic: newsletter
    name: Newsletter
    description: Weekly
    default: opt_in
    double_opt_in: true
    confirmation_template: confirm
  - {channel: sms, topic: "*", name: Texts, default: opt_in}
  - {channel: email, topic: "*", name: Everything else, default: opt_out}
"""
    )
    first, texts, rest = spec.subscription_groups
    assert (first.topic, first.default, first.double_opt_in) == ("newsletter", "opt_in", True)
    assert (texts.channel, texts.topic) == ("sms", "*")
    assert rest.description == ""
    assert spec.to_data()["subscription_groups"][1] == {
        "channel": "sms",
        "topic": "*",
        "name": "Texts",
        "description": "",
        "default": "opt_in",
        "double_opt_in": False,
    }


def test_problems_are_reported_at_their_lines() -> None:
    assert _problems(
        """subscription_groups:
  - {channel: emial, topic: news, name: News, default: opt_in}
  - channel: email
    topic: deals
    name: Deals
    default: opt_out
    dflt: 1
  - {channel: email, topic: tips, name: Tips, default: opt_out, confirmation_template: x}
"""
    ) == [
        "g.yaml:2:6: subscription_groups[0].channel: must be 'email' or 'sms', not 'emial'",
        "g.yaml:7:5: subscription_groups[1].dflt: unknown field 'dflt' (did you mean 'default'?)",
        "g.yaml:8:65: subscription_groups[2].confirmation_template: a confirmation template "
        "is only sent with double_opt_in: true",
    ]


def test_double_opt_in_needs_an_email_opt_in_group_and_a_template() -> None:
    assert _problems(
        "subscription_groups:\n"
        "  - {channel: email, topic: a, name: A, default: opt_out, double_opt_in: true,"
        " confirmation_template: c}\n"
    ) == [
        "g.yaml:2:59: subscription_groups[0].double_opt_in: double opt-in needs default: "
        "opt_in (an opt-out group sends without it)"
    ]
    assert _problems(
        "subscription_groups:\n"
        "  - {channel: email, topic: a, name: A, default: opt_in, double_opt_in: true}\n"
    ) == [
        "g.yaml:2:58: subscription_groups[0].double_opt_in: double opt-in needs the "
        "confirmation email's template"
    ]


def test_a_channel_and_topic_has_one_group() -> None:
    problems = _problems(
        "subscription_groups:\n"
        "  - {channel: email, topic: a, name: A, default: opt_in}\n"
        "  - {channel: sms, topic: a, name: A by text, default: opt_in}\n"
        "  - {channel: email, topic: a, name: Again, default: opt_out}\n"
    )
    assert problems == [
        "g.yaml:4:22: subscription_groups[2].topic: a second email group for topic 'a'"
    ]


def test_not_a_mapping_bad_yaml_and_unreadable_files() -> None:
    assert _problems("- a\n") == [
        "g.yaml:1:1: a groups file is a mapping with the key subscription_groups"
    ]
    assert _problems("subscription_groups: [\n")[0].startswith("g.yaml:2:1: not valid YAML")
    with pytest.raises(SubscriptionGroupsInvalid) as caught:
        load_groups(Path("/nonexistent/groups.yaml"))
    assert "cannot read" in str(caught.value)


def test_data_from_the_api_names_the_field() -> None:
    with pytest.raises(SubscriptionGroupsInvalid) as caught:
        groups_from_data({"subscription_groups": [{"channel": "sms", "topic": "", "name": "x"}]})
    fields = [(p.path, p.message) for p in caught.value.problems]
    assert ("subscription_groups[0]", "missing field 'default'") in fields
    assert any(path == "subscription_groups[0].topic" for path, _ in fields)
    with pytest.raises(SubscriptionGroupsInvalid):
        groups_from_data([])
