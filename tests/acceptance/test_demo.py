"""Acceptance: the demo's steps (as ``scripts/demo`` runs them) against a real ``wayline serve``
with the demo's own mail sink: the shipped content validates and applies, every stage of the
e-commerce preset gets customers, the journeys' email arrives in the sink with links to the
server that answer, customer data is escaped in the HTML, and ``wayline demo inbox`` reads it.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from typer.testing import CliRunner

from tests.acceptance.harness import (
    WaylineServer,
    Workspace,
    free_port,
    wait_until,
    wayline_executable,
)
from wayline.cli.demo import demo_app
from wayline.demo import shop_dir
from wayline.demo.inbox import Inbox
from wayline.demo.loader import DemoShop
from wayline.demo.mailsink import MailSink, mail_dir

CUSTOMERS = 150
#: The first email of each journey, by the start of its subject.
FIRST_EMAIL = {
    "Welcome to Trailhead Outfitters": "welcome",
    "Thank you for your order": "post-purchase",
    "We miss you": "win-back",
}
HOSTILE_NAME = '<img src=x onerror="alert(1)">'


def journey_of(subject: str) -> str | None:
    return next((j for start, j in FIRST_EMAIL.items() if subject.startswith(start)), None)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[WaylineServer, Workspace, MailSink]]:
    data = tmp_path / "demo"
    server = WaylineServer(data_dir=data)
    # as scripts/demo does: the links in the email point at this server
    server.env["WAYLINE_PUBLIC_URL"] = server.url
    # and its mail sink is on loopback, which the network guard refuses unless allowed
    server.env["WAYLINE_WEBHOOK_ALLOWED_HOSTS"] = "127.0.0.1"
    sink = MailSink(mail_dir(data), port=free_port())
    sink.start()
    try:
        ws = server.create_workspace("demo")
        server.start()
        yield server, ws, sink
    finally:
        server.stop()
        sink.stop()


def test_shipped_content_validates() -> None:
    shop = shop_dir()
    journeys = sorted(str(p) for p in (shop / "journeys").glob("*.yaml"))
    segments = sorted(str(p) for p in (shop / "segments").glob("*.yaml"))
    assert len(journeys) >= 4
    assert len(segments) >= 2
    for args in (
        ["journeys", "validate", *journeys],
        ["segments", "validate", *segments],
        ["templates", "validate", str(shop / "templates")],
    ):
        done = subprocess.run(
            [wayline_executable(), *args], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert all(line.endswith(")") or line.endswith("ok") for line in done.stdout.splitlines())


def test_demo_shop_sends_email_with_working_links(
    demo: tuple[WaylineServer, Workspace, MailSink],
) -> None:
    server, ws, sink = demo
    shop = shop_dir()
    on = ("--workspace", ws.name)
    server.cli("stages", "apply", "--preset", "ecommerce", *on)
    server.cli("segments", "apply", *map(str, sorted((shop / "segments").glob("*.yaml"))), *on)
    server.cli("templates", "apply", str(shop / "templates"), *on)
    server.cli("journeys", "apply", *map(str, sorted((shop / "journeys").glob("*.yaml"))), *on)

    client = DemoShop(server.url, write_key=ws.write_key, admin_token=ws.admin_token)
    try:
        client.send_email_to("127.0.0.1", sink.port)
        assert client.send_sample(CUSTOMERS) > CUSTOMERS * 5
        hostile = {"email": "mallory@example.com", "first_name": HOSTILE_NAME}
        r = server.http.post(
            "/v1/identify", json={"userId": "mallory", "traits": hostile}, auth=ws.auth
        )
        assert r.status_code == 200, r.text
        assert client.wait_for_stages(CUSTOMERS) >= CUSTOMERS
        refreshed = client.refresh_stages()
    finally:
        client.close()
    assert refreshed["state"] == "unchanged"

    # every stage of the preset has customers, and the stages before the last have a
    # typical time, worked out from the sample
    stages = server.http.get("/api/v1/stages", headers=ws.admin).json()["stages"]
    assert [s["stage"] for s in stages] == [
        "awareness",
        "consideration",
        "decision",
        "purchase",
        "retention",
        "advocacy",
    ]
    assert all(s["customers"] > 0 for s in stages), stages
    assert all(s["typical_seconds"] for s in stages[:-1]), stages

    # the first email of two journeys at least arrives in the sink (welcome needs mallory's)
    inbox = Inbox(server.data_dir)

    def journeys() -> Counter[str | None]:
        return Counter(journey_of(m.subject) for m in inbox.messages())

    def arrived(found: Counter[str | None]) -> bool:
        mallory = any(m.to == "mallory@example.com" for m in inbox.messages())
        return found["welcome"] > 0 and found["post-purchase"] > 0 and mallory

    found = wait_until(journeys, arrived, timeout=120, interval=0.5)
    assert arrived(found), (found, server.log_tail())
    assert None not in found, found

    # customer data is escaped in the HTML
    messages = inbox.messages()
    welcome_mallory = next(m for m in messages if m.to == "mallory@example.com")
    mail = message_from_bytes(welcome_mallory.path.read_bytes(), policy=policy.default)
    assert isinstance(mail, EmailMessage)
    html_part = mail.get_body(preferencelist=("html",))
    assert isinstance(html_part, EmailMessage)
    html = html_part.get_content()
    assert "&lt;img src=x" in html
    assert "<img src=x" not in html
    opened_mallory = inbox.open(welcome_mallory.number)
    # the text part is text: the name as given, neither markup nor entities
    assert "Hi <img src=x" in opened_mallory.text
    assert "&lt;" not in opened_mallory.text

    # the links point at the server's real port and answer
    welcome = next(
        m for m in messages if journey_of(m.subject) == "welcome" and m.to != "mallory@example.com"
    )
    opened = inbox.open(welcome.number)
    base = urlsplit(server.url)
    ours = [u for u in opened.links if urlsplit(u).netloc == base.netloc]
    unsubscribe = next(u for u in ours if "/t/unsubscribe/" in u)
    click = next(u for u in ours if "/t/click/" in u)
    assert opened.unsubscribe == unsubscribe
    with httpx.Client(timeout=30) as http:
        page = http.get(unsubscribe)
        assert page.status_code == 200
        assert "<form" in page.text
        went = http.get(click)
        assert went.status_code in (302, 303, 307), went.text
        assert went.headers["location"].startswith("https://shop.example.com/")
        done = http.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200, done.text
    customer = welcome.to.split("@")[0]
    choices = wait_until(
        lambda: server.http.get(
            f"/api/v1/profiles/{customer}/subscriptions", headers=ws.admin
        ).json()["data"],
        lambda found: any(c["status"] == "unsubscribed" for c in found),
        timeout=30,
    )
    assert any(c["status"] == "unsubscribed" and c["channel"] == "email" for c in choices), choices

    # `wayline demo inbox` lists the messages and shows one
    runner = CliRunner()
    listed = runner.invoke(demo_app, ["inbox", "--data-dir", str(server.data_dir), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert len(rows) >= len(messages)
    assert rows[welcome.number - 1]["subject"] == welcome.subject
    table = runner.invoke(demo_app, ["inbox", "--data-dir", str(server.data_dir)])
    assert f"{welcome.to}  {welcome.subject}" in table.output
    shown = runner.invoke(
        demo_app, ["inbox", "show", str(welcome.number), "--data-dir", str(server.data_dir)]
    )
    assert shown.exit_code == 0, shown.output
    assert f"Subject: {welcome.subject}" in shown.output
    assert unsubscribe in shown.output
    missing = runner.invoke(
        demo_app, ["inbox", "show", "100000", "--data-dir", str(server.data_dir)]
    )
    assert missing.exit_code != 0
    print(f"emails by journey: {dict(journeys())}")
