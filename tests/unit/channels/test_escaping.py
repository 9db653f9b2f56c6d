"""Customer data in HTML bodies is escaped; text parts, subjects and SMS are not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wayline.channels.inapp import render_inapp
from wayline.channels.templates import (
    Renderer,
    load_template_text,
    render_globals,
    workspace_scope,
)

LINK = '<a href="https://evil.example/login">Log in</a>'

EMAIL = """\
name: hi
subject: "Hi {{ profile.name }}"
preheader: "For {{ profile.name }}"
html: |
  <p>Hello {{ profile.name }}</p>
  <p><a href="https://shop.example.com/">Shop</a></p>
"""


def scope(variables: dict[str, Any] | None = None, **traits: Any) -> dict[str, Any]:
    return {
        **render_globals(traits, "UTC"),
        "profile": traits,
        "event": {},
        "journey": {},
        "workspace": workspace_scope("w1", "Acme", "UTC", variables or {}),
    }


def test_a_trait_holding_markup_is_escaped_in_the_html_body_only() -> None:
    spec = load_template_text(EMAIL, "t.yaml")
    out = Renderer().email(spec, scope(name=LINK), strict=True)
    assert 'evil.example/login">' not in out.html
    assert "<p>Hello &lt;a href=&#34;https://evil.example/login&#34;&gt;Log in" in out.html
    assert out.html.count("<a ") == 1  # the template's own link
    # the text part, subject and preheader are not HTML: the value reads as it was written
    assert out.subject == f"Hi {LINK}"
    assert out.preheader == f"For {LINK}"
    assert f"Hello {LINK}" in out.text
    # the hidden preheader in the body is escaped too
    assert "For &lt;a href=" in out.html


def test_the_text_part_made_from_html_for_each_message_reads_the_value_as_written() -> None:
    text = EMAIL.replace("<p>Hello", '<p><img alt="{{ profile.name }}">Hello')
    spec = load_template_text(text, "t.yaml")
    out = Renderer().email(spec, scope(name="Tom & <Jerry>"), strict=True)
    assert "Hello Tom &amp; &lt;Jerry&gt;" in out.html
    assert "Hello Tom & <Jerry>" in out.text


def test_mjml_bodies_escape_customer_data() -> None:
    spec = load_template_text(
        "name: m\nsubject: s\nmjml: |\n"
        "  <mjml><mj-body><mj-section><mj-column>\n"
        "    <mj-text>Hi {{ profile.name }}</mj-text>\n"
        "  </mj-column></mj-section></mj-body></mjml>\n",
        "m.yaml",
    )
    out = Renderer().email(spec, scope(name=LINK), strict=True)
    assert 'evil.example/login">' not in out.html
    assert "Hi &lt;a href=" in out.html
    assert f"Hi {LINK}" in out.text


def test_safe_marks_trusted_markup_and_escape_is_not_applied_twice() -> None:
    html = "<p>{{ event.banner | safe }} {{ profile.name | escape }}</p>"
    spec = load_template_text(f"name: x\nsubject: s\nhtml: '{html}'\n", "x.yaml")
    values = {**scope(name="A & B"), "event": {"banner": "<b>Sale</b>"}}
    out = Renderer().email(spec, values, strict=True)
    assert "<p><b>Sale</b> A &amp; B</p>" in out.html


def test_workspace_variables_are_trusted_markup() -> None:
    footer = '<a href="https://acme.example/help">Help</a> &amp; more'
    spec = load_template_text(
        "name: x\nsubject: '{{ workspace.brand }} news'\n"
        "html: '<p>Hi {{ profile.name }}</p><footer>{{ workspace.footer }}</footer>'\n",
        "x.yaml",
    )
    values = scope({"footer": footer, "brand": "Smith & Sons"}, name="<i>Ann</i>")
    out = Renderer().email(spec, values, strict=True)
    assert f"<footer>{footer}</footer>" in out.html
    assert "Hi &lt;i&gt;Ann&lt;/i&gt;" in out.html
    assert out.subject == "Smith & Sons news"
    # the text part shows the footer's text, not its tags
    assert "Help (https://acme.example/help) & more" in out.text
    assert "<a " not in out.text


def test_sms_bodies_are_not_escaped() -> None:
    spec = load_template_text("name: s\nchannel: sms\nbody: 'Hi {{ profile.name }}'\n", "s")
    assert Renderer().sms(spec, scope(name="Tom & <Jerry>"), strict=True) == "Hi Tom & <Jerry>"


def test_inapp_html_is_escaped_and_json_content_is_not() -> None:
    spec = load_template_text(
        "name: b\nchannel: inapp\nplacement: hero\n"
        "content: {title: 'Hi {{ profile.name }}'}\n"
        "html: '<h1>Hi {{ profile.name }}</h1>'\n",
        "b.yaml",
    )
    now = datetime(2026, 11, 22, tzinfo=UTC)
    content, html, _ = render_inapp(Renderer(), spec, scope(name=LINK), now, strict=True)
    assert content == {"title": f"Hi {LINK}"}
    assert html == "<h1>Hi &lt;a href=&#34;https://evil.example/login&#34;&gt;Log in&lt;/a&gt;</h1>"
