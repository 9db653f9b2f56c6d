"""The email bytes written directly: what a mail reader parses back."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from wayline.channels import mime


def _parse(raw: bytes) -> EmailMessage:
    mail = message_from_bytes(raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    return mail


def test_headers_and_both_parts_read_back() -> None:
    link = "https://wl.example.com/t/unsubscribe/" + "a" * 400
    headers = [
        ("From", mime.address("Zoë's Shop, Inc.", "shop@example.com")),
        ("To", "ann@example.com"),
        ("Subject", "Ünïcode subject " + "x" * 120 + " 🎉"),
        ("Message-ID", "<abc@example.com>"),
        ("List-Unsubscribe", f"<{link}>"),
    ]
    text = "Hello Zoë\nA = B\n" + "y" * 300 + "\n.starts with a dot\n"
    html = "<p>Hi Zoë</p>\n" + "<span>z</span>" * 200
    raw = mime.alternative(headers, text, html)
    mail = _parse(raw)
    assert mail["From"].addresses[0].display_name == "Zoë's Shop, Inc."
    assert mail["From"].addresses[0].addr_spec == "shop@example.com"
    assert mail["Subject"] == "Ünïcode subject " + "x" * 120 + " 🎉"
    assert mail["List-Unsubscribe"] == f"<{link}>"
    assert f"List-Unsubscribe: <{link}>\r\n".encode() in raw  # one line: a link
    plain, rich = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None
    assert rich is not None
    assert plain.get_content().replace("\r\n", "\n") == text
    assert rich.get_content().replace("\r\n", "\n").rstrip("\n") == html
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= mime.MAX_HEADER
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only


def test_unusual_messages_are_left_to_the_email_package() -> None:
    assert mime.writable([("Subject", "Hi")], ["ann@example.com"])
    assert not mime.writable([("Subject", "Hi\r\nBcc: x@y.z")], ["ann@example.com"])
    assert not mime.writable([("Subject", "Hi")], ["zoë@example.com"])
