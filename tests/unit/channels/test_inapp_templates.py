"""In-app templates and placement files: checks located in the file, rendering of JSON
content, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wayline.channels.inapp import render_inapp
from wayline.channels.placements import load_placement_text
from wayline.channels.templates import (
    Renderer,
    RenderError,
    TemplateInvalid,
    load_template_text,
    render_globals,
)

BANNER = """\
name: banner
channel: inapp
placement: home-hero
priority: 3
ttl: 2d
expires: "{{ event.properties.ends }}"
content:
  title: "Hi {{ profile.first_name }}"
  items: ["{{ event.properties.product }}", 2]
"""

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def problems(text: str, load: object = load_template_text) -> list[str]:
    with pytest.raises(TemplateInvalid) as caught:
        load(text, "p.yaml" if load is load_placement_text else "t.yaml")  # type: ignore[operator]
    return [str(p) for p in caught.value.problems]


def test_an_inapp_template_renders_its_json_content_and_ends_at_the_earlier_time() -> None:
    spec = load_template_text(BANNER, "t.yaml")
    assert spec.as_spec()["ttl"] == "2d"
    scope = {
        **render_globals({}, "UTC"),
        "profile": {"first_name": "Ann"},
        "event": {"properties": {"product": "Domane", "ends": "2026-11-23T00:00:00Z"}},
    }
    content, html, expires = render_inapp(Renderer(), spec, scope, NOW, strict=True)
    assert content == {"title": "Hi Ann", "items": ["Domane", 2]}
    assert html is None
    assert expires == datetime(2026, 11, 23, tzinfo=UTC)
    scope["event"] = {"properties": {"product": "Domane", "ends": ""}}
    assert render_inapp(Renderer(), spec, scope, NOW, strict=False)[2] == NOW + timedelta(days=2)
    scope["event"] = {"properties": {"product": "Domane", "ends": "next tuesday"}}
    with pytest.raises(RenderError, match="expires: not an ISO 8601 time: 'next tuesday'"):
        render_inapp(Renderer(), spec, scope, NOW, strict=False)


def test_inapp_template_problems_name_the_field_at_its_line() -> None:
    assert problems(BANNER.replace("placement: home-hero\n", "")) == [
        "t.yaml:1:1: an in-app template needs a placement"
    ]
    assert problems(BANNER.replace("placement: home-hero", "placement: home hero")) == [
        "t.yaml:3:1: placement: not a placement name: 'home hero' (letters, digits, _, . and -,"
        " starting with a letter or digit, at most 100 characters)"
    ]
    assert problems(BANNER.replace("Hi {{ profile.first_name }}", "Hi {% if %}")) == [
        "t.yaml:8:3: content.title: missing expression"
    ]
    assert problems(BANNER.replace("ttl: 2d", "ttl: soon")) == [
        "t.yaml:5:1: ttl: not a duration: 'soon' (use 30s, 15m, 1h, 7d or ISO 8601 like PT1H)"
    ]
    assert problems(BANNER + "subject: Hello\n") == [
        "t.yaml:1:1: subject is not for in-app templates"
    ]
    email = 'name: e\nsubject: Hi\nhtml: "<p>x</p>"\nplacement: home-hero\n'
    assert problems(email) == ["t.yaml:1:1: placement is for in-app templates (channel: inapp)"]


PLACEMENT = """\
name: home-hero
rules:
  - when: {event: Product Configured, within: 90d, where: {properties.price: {gte: 10}}}
    content: {title: "Your {{ event.properties.product }}"}
  - when: {trait: plan}
    html: "<p>{{ profile.plan }}</p>"
  - content: {title: Hello}
"""


def test_placement_files_are_checked_with_precise_messages() -> None:
    spec = load_placement_text(PLACEMENT, "p.yaml")
    assert [r.when.event if r.when else None for r in spec.rules] == [
        "Product Configured",
        None,
        None,
    ]
    assert spec.as_spec()["rules"][0]["when"]["within"] == "90d"

    def placement_problems(text: str) -> list[str]:
        return problems(text, load_placement_text)

    assert placement_problems(PLACEMENT.replace("{trait: plan}", "{trait: plan, event: X}")) == [
        "p.yaml:5:5: rules.1.when: when needs exactly one of event or trait"
    ]
    assert placement_problems(PLACEMENT.replace("content: {title: Hello}", "priority: 2")) == [
        "p.yaml:7:5: rules.2.priority: Extra inputs are not permitted"
    ]
    assert placement_problems(PLACEMENT.replace("{{ profile.plan }}", "{{ profile.plan ")) == [
        "p.yaml:6:5: rules.1.html: expected '}}', found end of file"
    ]
    assert placement_problems("name: a b\n") == [
        "p.yaml:1:1: name: not a placement name: 'a b' (letters, digits, _, . and -, starting"
        " with a letter or digit, at most 100 characters)"
    ]
