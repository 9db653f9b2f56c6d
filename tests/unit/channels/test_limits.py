"""Templates have limits: loops, output, local variables and time. A template over one
fails with an error naming its field, instead of holding a worker."""

from __future__ import annotations

from typing import Any

import pytest

from wayline.channels.templates import Renderer, RenderError, load_template_text, render_globals


def scope() -> dict[str, Any]:
    return {**render_globals({}, "UTC"), "profile": {}, "event": {}, "journey": {}}


@pytest.mark.parametrize(
    ("liquid", "message"),
    [
        ("{% for i in (1..1000000) %}x{% endfor %}", "more than 10000 loop iterations"),
        (
            "{% for i in (1..1000) %}{% for j in (1..1000) %}x{% endfor %}{% endfor %}",
            "more than 10000 loop iterations",
        ),
        (
            "{% for i in (1..9999) %}{{ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' }}"
            "{{ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' }}{% endfor %}",
            "more than 1000000 bytes of output",
        ),
        (
            "{% assign s = 'xxxxxxxxxxxxxxxx' %}{% for i in (1..40) %}"
            "{% assign s = s | append: s %}{% endfor %}",
            "local variables over 1000000 bytes",
        ),
    ],
)
def test_a_template_over_a_limit_is_an_error_naming_its_field(liquid: str, message: str) -> None:
    spec = load_template_text(f'name: x\nsubject: s\nhtml: "{liquid}"\n', "x.yaml")
    for strict in (True, False):
        with pytest.raises(RenderError) as caught:
            Renderer().email(spec, scope(), strict=strict)
        assert caught.value.field == "html"
        assert message in str(caught.value)


def test_limits_hold_for_text_and_sms_too() -> None:
    spec = load_template_text(
        "name: s\nchannel: sms\nbody: '{% for i in (1..20000) %}x{% endfor %}'\n", "s.yaml"
    )
    with pytest.raises(RenderError, match=r"^body: .*loop iterations"):
        Renderer().sms(spec, scope(), strict=False)


def test_a_render_past_its_time_budget_stops() -> None:
    spec = load_template_text(
        "name: x\nsubject: s\nhtml: '{% for i in (1..100) %}<p>{{ i }}</p>{% endfor %}'\n", "x"
    )
    assert "<p>100</p>" in Renderer().email(spec, scope(), strict=True).html
    with pytest.raises(RenderError, match=r"^html: .*took more than 0 s"):
        Renderer(time_budget=0.0).markup("html", spec.html or "", scope(), strict=True)
