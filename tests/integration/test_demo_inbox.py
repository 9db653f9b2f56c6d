"""The demo's mail sink (a real SMTP server) keeps what it receives; ``wayline demo inbox``
lists it and shows one message's text and links."""

from __future__ import annotations

import json
import signal
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.integration.messaging.mailbox import free_port
from wayline.cli.demo import demo_app
from wayline.demo.inbox import Inbox, NoSuchMessage
from wayline.demo.mailsink import MailSink, mail_dir

SINK = (sys.executable, "-m", "wayline.demo.mailsink")


def _mail(to: str, subject: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "The Shop <shop@example.com>"
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = "Mon, 07 Dec 2026 09:30:00 +0000"
    mail["List-Unsubscribe"] = "<http://127.0.0.1:8088/t/unsubscribe/abc>"
    mail.set_content("Hi Ann,\nYour cart: https://shop.example.com/cart/1\n")
    mail.add_alternative(
        '<link href="https://fonts.example.com/x.css"><p>Hi Ann,</p>'
        '<a href="http://127.0.0.1:8088/t/click/xyz">cart</a>',
        subtype="html",
    )
    return mail


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    running = MailSink(mail_dir(tmp_path), port=free_port())
    running.start()
    yield running
    running.stop()


def _send(sink: MailSink, mail: EmailMessage) -> None:
    with smtplib.SMTP(sink.host, sink.port) as smtp:
        smtp.send_message(mail)


def test_sink_keeps_messages_in_order_across_restarts(sink: MailSink, tmp_path: Path) -> None:
    _send(sink, _mail("ann@example.com", "Welcome"))
    _send(sink, _mail("ben@example.com", "Your cart"))
    sink.stop()
    sink.start()
    _send(sink, _mail("cy@example.com", "Thanks"))
    found = Inbox(tmp_path).messages()
    assert [(m.number, m.to, m.subject) for m in found] == [
        (1, "ann@example.com", "Welcome"),
        (2, "ben@example.com", "Your cart"),
        (3, "cy@example.com", "Thanks"),
    ]
    assert [m.path.name for m in found] == ["000001.eml", "000002.eml", "000003.eml"]
    assert found[0].date is not None
    assert found[0].date.isoformat() == "2026-12-07T09:30:00+00:00"


def test_open_gives_text_and_links(sink: MailSink, tmp_path: Path) -> None:
    _send(sink, _mail("ann@example.com", "Your cart"))
    opened = Inbox(tmp_path).open(1)
    assert opened.text.startswith("Hi Ann,")
    assert opened.links == [
        "http://127.0.0.1:8088/t/click/xyz",
        "https://shop.example.com/cart/1",
    ]
    assert opened.unsubscribe == "http://127.0.0.1:8088/t/unsubscribe/abc"
    with pytest.raises(NoSuchMessage, match="no message 2: the inbox has 1"):
        Inbox(tmp_path).open(2)


def test_demo_inbox_command(sink: MailSink, tmp_path: Path) -> None:
    runner = CliRunner()
    empty = runner.invoke(demo_app, ["inbox", "--data-dir", str(tmp_path)])
    assert empty.output == "no messages yet\n"
    _send(sink, _mail("ann@example.com", "Your cart"))
    listed = runner.invoke(demo_app, ["inbox", "--data-dir", str(tmp_path)])
    assert listed.output == "    1  2026-12-07 09:30:00  ann@example.com  Your cart\n"
    as_json = runner.invoke(demo_app, ["inbox", "--json", "--data-dir", str(tmp_path)])
    (row,) = json.loads(as_json.output)
    assert (row["number"], row["to"], row["subject"]) == (1, "ann@example.com", "Your cart")
    shown = runner.invoke(demo_app, ["inbox", "show", "1", "--data-dir", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert "Subject: Your cart" in shown.output
    assert "[1] http://127.0.0.1:8088/t/click/xyz" in shown.output
    assert "List-Unsubscribe): http://127.0.0.1:8088/t/unsubscribe/abc" in shown.output
    missing = runner.invoke(demo_app, ["inbox", "show", "7", "--data-dir", str(tmp_path)])
    assert missing.exit_code == 1
    assert isinstance(missing.exception, NoSuchMessage)


def test_sink_process_keeps_mail_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    command = [*SINK, "--data-dir", str(tmp_path), "--port", str(port)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().startswith(f"mail sink on 127.0.0.1:{port}")
            with smtplib.SMTP("127.0.0.1", port) as smtp:
                smtp.send_message(_mail("ann@example.com", "Welcome"))
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
    assert [m.subject for m in Inbox(tmp_path).messages()] == ["Welcome"]


def test_sink_process_refuses_a_bad_port_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [*SINK, "--data-dir", str(tmp_path), "--port", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert (
        done.stderr.splitlines()[-1] == "mailsink.py: error: --port: 0 is not a port (1 to 65535)"
    )
