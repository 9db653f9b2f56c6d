"""Template files: checks located in the file, strict and lenient rendering, filters in
the customer's locale and time zone, the plain-text part."""

from __future__ import annotations

from typing import Any

import pytest

from wayline.channels.plaintext import html_to_text
from wayline.channels.templates import (
    Renderer,
    RenderError,
    TemplateInvalid,
    load_template_text,
    render_globals,
)

HTML = """\
name: welcome
subject: "Welcome, {{ profile.first_name }}"
html: |
  <p>Hello {{ profile.first_name | default: 'there' }}</p>
  <p>Your plan: {{ profile.plan }}</p>
"""


def problems(text: str) -> list[str]:
    with pytest.raises(TemplateInvalid) as caught:
        load_template_text(text, "t.yaml")
    return [str(p) for p in caught.value.problems]


def scope(**traits: Any) -> dict[str, Any]:
    return {**render_globals(traits, "UTC"), "profile": traits, "event": {}, "journey": {}}


def test_a_liquid_error_is_reported_at_its_line_in_the_file() -> None:
    text = HTML.replace("Your plan: {{ profile.plan }}", "Your plan: {% if %}")
    assert problems(text) == ["t.yaml:5:20: html: missing expression"]


def test_a_liquid_error_in_a_quoted_field() -> None:
    (found,) = problems('name: x\nsubject: "Hi {{ a | }}"\nhtml: "<p></p>"\n')
    assert found.startswith("t.yaml:2:")
    assert ": subject: " in found


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nhtml: '<p></p>'\n", "an email template needs a subject"),
        ("name: x\nsubject: s\n", "exactly one body: mjml or html"),
        ("name: x\nsubject: s\nhtml: a\nmjml: b\n", "exactly one body: mjml or html"),
        ("name: x\nchannel: sms\n", "an SMS template needs a body"),
        ("name: x\nsubject: s\nhtml: a\ncolour: red\n", "colour: Extra inputs are not permitted"),
    ],
)
def test_incomplete_templates_are_refused(text: str, message: str) -> None:
    (found,) = problems(text)
    assert found.startswith("t.yaml:")
    assert message in found


def test_a_file_that_is_not_yaml_names_its_line() -> None:
    (found,) = problems("name: x\nsubject: [unclosed\n")
    assert found.startswith("t.yaml:")
    assert "not valid YAML" in found


def test_strict_rendering_names_the_missing_variable() -> None:
    spec = load_template_text(HTML, "t.yaml")
    with pytest.raises(RenderError) as caught:
        Renderer().email(spec, scope(first_name="Ann"), strict=True)
    assert caught.value.field == "html"
    assert "profile.plan is undefined" in str(caught.value)


def test_lenient_rendering_leaves_a_missing_variable_empty() -> None:
    spec = load_template_text(HTML, "t.yaml")
    out = Renderer().email(spec, scope(), strict=False)
    assert out.subject == "Welcome,"
    assert "Hello there" in out.html
    assert "Your plan: </p>" in out.html


def test_defaults_keep_strict_rendering_happy() -> None:
    spec = load_template_text(
        HTML.replace("{{ profile.plan }}", "{{ profile.plan | default: 'free' }}"), "t"
    )
    out = Renderer().email(spec, scope(first_name="Ann"), strict=True)
    assert "Your plan: free" in out.html


def test_money_and_dates_in_the_customers_locale_and_zone() -> None:
    r = Renderer()
    german = scope(locale="de-DE", timezone="Europe/Berlin", currency="EUR")
    assert r.text("t", "{{ 1234.5 | money }}", german, strict=True) == "1.234,50\xa0€"
    assert r.text("t", "{{ 1234.5 | money: 'USD' }}", german, strict=True) == "1.234,50\xa0$"
    american = scope()
    assert r.text("t", "{{ 1234.5 | money }}", american, strict=True) == "$1,234.50"
    when = "{{ '2026-03-01T23:30:00Z' | datetime: format: 'short' }}"
    assert r.text("t", when, german, strict=True) == "02.03.26, 00:30"
    assert r.text("t", when, american, strict=True) == "3/1/26, 11:30\u202fPM"


def test_an_unknown_locale_falls_back_to_english() -> None:
    assert render_globals({"locale": "xx-nowhere"}, "UTC")["locale"] == "en_US"


def test_mjml_becomes_html_and_the_text_part_is_generated() -> None:
    spec = load_template_text(
        """\
name: m
subject: s
preheader: "Peek {{ profile.first_name }}"
mjml: |
  <mjml><mj-body><mj-section><mj-column>
    <mj-text>Hi {{ profile.first_name }}</mj-text>
    <mj-button href="https://example.com/go">Go</mj-button>
  </mj-column></mj-section></mj-body></mjml>
""",
        "m.yaml",
    )
    out = Renderer().email(spec, scope(first_name="Ann"), strict=True)
    assert out.html.startswith("<!doctype html>")
    assert "Peek Ann" in out.html
    assert "Peek Ann" not in out.text  # the preheader is hidden
    assert "Hi Ann" in out.text
    assert "Go (https://example.com/go)" in out.text


def test_bad_mjml_is_a_render_error() -> None:
    spec = load_template_text("name: m\nsubject: s\nmjml: '<mjml><mj-body>'\n", "m")
    with pytest.raises(RenderError, match="not valid MJML"):
        Renderer().email(spec, scope(), strict=False)


def test_html_to_text_keeps_paragraphs_and_lists_and_drops_styles() -> None:
    text = html_to_text(
        "<html><head><style>p{color:red}</style></head><body>"
        "<h1>Title</h1><p>One &amp; two</p><ul><li>a</li><li>b</li></ul>"
        "<p>See <a href='https://x.example/'>this</a></p></body></html>"
    )
    assert text == "Title\n\nOne & two\n\n- a\n- b\n\nSee this (https://x.example/)\n"


def _each_time(spec_text: str, values: dict[str, Any]) -> tuple[str, str]:
    """Body and text as made without the per-template preparation: Liquid, then MJML."""
    import mjml

    spec = load_template_text(spec_text, "t.yaml")
    renderer = Renderer()
    markup = renderer.markup("mjml", spec.mjml or "", values, strict=False)
    body = mjml.mjml2html(markup)
    return body, html_to_text(body)


MJML_OUTPUT = """\
name: cart
subject: "Hi"
mjml: |
  <mjml><mj-body><mj-section><mj-column>
    <mj-text>Hi {{ profile.first_name | default: 'there' }} &amp; co,</mj-text>
    <mj-button href="https://shop.example.com/cart/{{ journey.key }}">Back</mj-button>
    <mj-text><a href="{{ message.unsubscribe_url }}">Unsubscribe</a></mj-text>
  </mj-column></mj-section></mj-body></mjml>
"""


def test_mjml_with_liquid_output_is_compiled_once_and_renders_as_liquid_first() -> None:
    spec = load_template_text(MJML_OUTPUT, "t.yaml")
    renderer = Renderer()
    for name in ("Ann", "Bob"):
        values = {
            **scope(first_name=name),
            "journey": {"key": f"c-{name}"},
            "message": {"unsubscribe_url": f"https://wl.example.com/u/{name}"},
        }
        rendered = renderer.email(spec, values, strict=False)
        assert (rendered.html, rendered.text) == _each_time(MJML_OUTPUT, values)
        assert f"https://wl.example.com/u/{name}" in rendered.text
    made = renderer._body("mjml", spec.mjml or "")
    assert made.html is not None
    assert "{{ journey.key }}" in made.html  # compiled once, Liquid in place
    assert made.text is not None


def test_mjml_whose_liquid_shapes_the_layout_is_compiled_for_each_message() -> None:
    columns = MJML_OUTPUT.replace(
        "<mj-column>\n", "{% for p in event.products %}<mj-column>\n"
    ).replace("</mj-column>", "</mj-column>{% endfor %}")
    sized = MJML_OUTPUT.replace("<mj-column>", '<mj-column width="{{ event.width }}">')
    for text in (columns, sized):
        spec = load_template_text(text, "t.yaml")
        renderer = Renderer()
        values = {**scope(first_name="Ann"), "event": {"products": [1, 2, 3], "width": "50%"}}
        assert renderer._body("mjml", spec.mjml or "").html is None
        rendered = renderer.email(spec, values, strict=False)
        assert (rendered.html, rendered.text) == _each_time(text, values)
    # three columns side by side, each a third of the width
    assert rendered.html.count("mj-column-per-50") >= 1
    spec = load_template_text(columns, "t.yaml")
    rendered = Renderer().email(spec, {**scope(), "event": {"products": [1, 2, 3]}}, strict=False)
    assert "mj-column-per-33" in rendered.html


def test_a_value_holding_mjml_is_compiled_with_the_rest() -> None:
    # a workspace variable is trusted markup; a customer's value would be escaped
    text = MJML_OUTPUT.replace("<mj-body>", "<mj-body>{{ workspace.snippet }}")
    spec = load_template_text(text, "t.yaml")
    snippet = "<mj-section><mj-column><mj-text>Sale</mj-text></mj-column></mj-section>"
    values = {**scope(first_name="Ann"), "workspace": {"snippet": snippet}}
    renderer = Renderer()
    rendered = renderer.email(spec, values, strict=False)
    assert "<mj-" not in rendered.html
    assert "Sale" in rendered.text
    assert (rendered.html, rendered.text) == _each_time(text, values)
    values = {**scope(first_name="Ann"), "workspace": {}, "event": {"snippet": snippet}}
    spec = load_template_text(text.replace("workspace.", "event."), "t.yaml")
    rendered = renderer.email(spec, values, strict=False)
    assert "&lt;mj-section&gt;" in rendered.html


def test_the_plain_text_of_an_html_template_is_made_once_as_liquid() -> None:
    renderer = Renderer()
    spec = load_template_text(HTML, "t.yaml")
    made = renderer._body("html", spec.html or "")
    assert made.text is not None
    assert "{{ profile.plan }}" in made.text
    rendered = renderer.email(spec, scope(first_name="Ann", plan="Pro   plan"), strict=False)
    assert rendered.text == "Hello Ann\n\nYour plan: Pro plan\n"
    # Liquid in an attribute other than a link's: the text is made from each message's HTML
    alt = HTML.replace("<p>Hello", '<p><img alt="{{ profile.plan }}">Hello')
    spec = load_template_text(alt, "t.yaml")
    assert renderer._body("html", spec.html or "").text is None
    rendered = renderer.email(spec, scope(first_name="Ann", plan="Pro"), strict=False)
    assert rendered.text == "Hello Ann\n\nYour plan: Pro\n"
