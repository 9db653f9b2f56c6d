"""The provider webhook: bounces, complaints and deliveries (generic JSON, Postmark, Twilio)
suppress addresses and land on the message's history and the customer's timeline."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import sqlalchemy as sa

from tests.acceptance.test_email_journey import Shop, _abandon, shop
from wayline.store import schema
from wayline.store.outbox import NewMessage, OutboxStore

__all__ = ["shop"]


def _hooks(shop: Shop) -> tuple[str, str]:
    r = shop.client.get("/api/v1/provider_webhooks", headers=shop.admin)
    assert r.status_code == 200
    urls = r.json()
    email, sms = urlsplit(urls["email_url"]), urlsplit(urls["sms_url"])
    return f"{email.path}?{email.query}", f"{sms.path}?{sms.query}"


def _sent_mail(shop: Shop, user: str) -> str:
    shop.send({"type": "identify", "userId": user, "traits": {"email": f"{user}@example.com"}})
    _abandon(shop, "c1")
    (mail,) = [m for m in shop.mailbox.received() if m["To"] == f"{user}@example.com"]
    return str(mail["Message-ID"])


def _history(shop: Shop, user: str) -> list[str]:
    data = shop.client.get(f"/api/v1/profiles/{user}/messages", headers=shop.admin).json()["data"]
    (email,) = [m for m in data if m["channel"] == "email" and m["state"] == "sent"]
    return [h["status"] for h in email["history"]]


def test_a_hard_bounce_suppresses_and_lands_on_the_timeline(shop: Shop) -> None:
    email_hook, _ = _hooks(shop)
    message_id = _sent_mail(shop, "ann")

    soft = {"type": "bounce", "email": "ann@example.com", "bounce_type": "soft"}
    r = shop.client.post(email_hook, json=soft)
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["suppressed"] is False
    hard = {
        "type": "bounce",
        "email": "Ann@Example.com",
        "message_id": message_id.strip("<>"),  # as some providers write it
        "reason": "550 5.1.1 no such user",
    }
    r = shop.client.post(email_hook, json=[hard])
    assert r.status_code == 200, r.text
    (done,) = r.json()["data"]
    assert done["suppressed"] is True
    assert done["message_id"] is not None
    other = {"type": "bounce", "email": "ann@example.com", "message_id": "<not-ours@x.com>"}
    assert shop.client.post(email_hook, json=other).json()["data"][0]["message_id"] is None
    # the soft bounce was recorded first; the hard one is the same (kind, message): once
    assert _history(shop, "ann") == ["queued", "sent", "bounced"]
    bounced = [e for e in shop.timeline("ann") if e.get("event") == "Email Bounced"]
    assert len(bounced) == 1
    assert bounced[0]["properties"]["bounce_type"] == "soft"
    listed = shop.client.get("/api/v1/suppressions", headers=shop.admin).json()["data"]
    assert [(s["address"], s["reason"], s["detail"]) for s in listed] == [
        ("ann@example.com", "hard_bounce", "550 5.1.1 no such user")
    ]

    # the next email to Ann is dropped before it reaches the SMTP server
    shop.clock.advance(days=8)
    _abandon(shop, "c2")
    assert len(shop.mailbox.received()) == 1
    data = shop.client.get("/api/v1/profiles/ann/messages", headers=shop.admin).json()["data"]
    dropped = [m for m in data if m["state"] == "dropped"]
    assert dropped[0]["last_error"] == (
        "suppressed: the address is on the suppression list (hard_bounce)"
    )


def test_postmark_complaints_and_deliveries(shop: Shop) -> None:
    email_hook, _ = _hooks(shop)
    _sent_mail(shop, "ann")
    delivery = {"RecordType": "Delivery", "Recipient": "ann@example.com", "MessageID": "pm-1"}
    assert shop.client.post(email_hook, json=delivery).status_code == 200
    complaint = {"RecordType": "SpamComplaint", "Email": "ann@example.com", "MessageID": "pm-1"}
    r = shop.client.post(email_hook, json=complaint)
    assert r.json()["data"][0]["suppressed"] is True
    names = shop.names("ann")
    assert names.count("Email Delivered") == 1
    assert names.count("Email Marked as Spam") == 1
    assert _history(shop, "ann") == ["queued", "sent", "delivered", "complained"]
    found = shop.client.get("/api/v1/suppressions/email/ann@example.com", headers=shop.admin)
    assert found.json()["reason"] == "complaint"


def test_twilio_status_callbacks(shop: Shop) -> None:
    _, sms_hook = _hooks(shop)
    shop.send({"type": "identify", "userId": "dan", "traits": {"phone": "+14155550100"}})
    profile_id = shop.profile_id("dan")
    outbox = OutboxStore(shop.store)
    with shop.store._write() as conn:
        outbox.add(
            conn,
            [
                NewMessage(
                    workspace_id=shop.workspace,
                    idempotency_key="sms-1",
                    channel="sms",
                    profile_id=profile_id,
                    payload={"template": "promo"},
                )
            ],
        )
        conn.execute(
            sa.update(schema.outbox)
            .where(schema.outbox.c.idempotency_key == "sms-1")
            .values(state="sent", result='{"sid": "SM1"}')
        )
    form = {"content-type": "application/x-www-form-urlencoded"}
    body = b"MessageSid=SM1&MessageStatus=delivered&To=%2B14155550100"
    r = shop.client.post(sms_hook, content=body, headers=form)
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["message_id"] is not None
    assert shop.names("dan") == ["SMS Delivered"]
    stop = b"MessageSid=SM1&MessageStatus=undelivered&To=%2B14155550100&ErrorCode=21610"
    r = shop.client.post(sms_hook, content=stop, headers=form)
    assert r.json()["data"][0]["suppressed"] is True
    sent = b"MessageSid=SM1&MessageStatus=sent&To=%2B14155550100"
    assert shop.client.post(sms_hook, content=sent, headers=form).json() == {"data": []}
    found = shop.client.get("/api/v1/suppressions/sms/+1 415 555 0100", headers=shop.admin)
    assert found.status_code == 200


def test_a_wrong_secret_or_a_bad_report_is_refused(shop: Shop) -> None:
    email_hook, _ = _hooks(shop)
    path, _, quoted = email_hook.partition("?key=")
    key = unquote(quoted)
    report = {"type": "complaint", "email": "x@example.com"}
    assert shop.client.post(f"{path}?key=wrong", json=report).status_code == 401
    assert shop.client.post(path, json=report).status_code == 401
    other = shop.store.create_workspace("other").workspace.id
    assert shop.client.post(
        f"/v1/providers/{other}/email?key={quoted}", json=report
    ).status_code == (401)
    bearer = {"Authorization": f"Bearer {key}"}
    r = shop.client.post(path, json={"type": "bounced", "email": "x@example.com"}, headers=bearer)
    assert r.status_code == 422
    assert r.json()["field"] == "type"
    r = shop.client.post(path, json=[report, {"type": "bounce"}], headers=bearer)
    assert r.status_code == 422
    assert r.json()["field"] == "[1].email"
    assert shop.client.get("/api/v1/suppressions", headers=shop.admin).json()["data"] == []
    r = shop.client.post(path, json=report, auth=("postmark", key))
    assert r.status_code == 200
    assert r.json()["data"][0] == {
        "type": "complaint",
        "suppressed": True,
        "message_id": None,
        "recorded": False,
    }


def test_a_number_is_suppressed_however_it_is_written(shop: Shop) -> None:
    from wayline.channels.config import ChannelConfigs

    ChannelConfigs(shop.store).set(
        shop.workspace, "sms", {"account_sid": "AC1", "default_region": "US"}
    )
    _, sms_hook = _hooks(shop)
    form = {"content-type": "application/x-www-form-urlencoded"}
    stop = b"MessageSid=SM9&MessageStatus=failed&To=%2B14155550123&ErrorCode=21610"
    assert shop.client.post(sms_hook, content=stop, headers=form).json()["data"][0]["suppressed"]
    # as a customer's trait may hold it: national format, read in the workspace's region
    found = shop.client.get("/api/v1/suppressions/sms/(415) 555-0123", headers=shop.admin)
    assert found.status_code == 200
    assert found.json()["address"] == "+14155550123"
    listed = shop.client.get("/api/v1/suppressions?channel=sms", headers=shop.admin).json()
    assert [s["address"] for s in listed["data"]] == ["+14155550123"]
    other = shop.client.get("/api/v1/suppressions/sms/(415) 555-0124", headers=shop.admin)
    assert other.status_code == 404
