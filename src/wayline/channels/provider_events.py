"""What email and SMS providers report after a message left: deliveries, bounces,
complaints. Hard bounces and complaints put the address on the suppression list; each
report about a message Wayline sent lands in its status history and on the customer's
timeline (``Email Delivered``, ``Email Bounced``, ``Email Marked as Spam``,
``SMS Delivered``).

Shapes read (see docs/messaging.md):

- generic email JSON: ``{"type": "bounce"|"complaint"|"delivery", "email": …,
  "bounce_type": "hard"|"soft", "message_id": "<Message-ID>", "reason": …}``, or a list;
- Postmark's bounce, spam complaint and delivery webhooks (``RecordType``);
- Twilio's SMS status callback (form fields ``MessageSid``, ``MessageStatus``, ``To``,
  ``ErrorCode``).

The message is found among the recent messages to the customer the address belongs to,
by its Message-ID (email) or the provider's id (SMS); an email report without an id goes
to the latest email sent to that customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from wayline import addresses
from wayline.channels import feedback
from wayline.errors import WaylineError
from wayline.store import schema, suppressions
from wayline.store.messages import MessageEvent, record
from wayline.store.outbox import OutboxMessage, OutboxState
from wayline.store.sql import SqlStore

Kind = Literal["bounce", "complaint", "delivery"]

#: Twilio error codes that mean the number will never take a message (invalid, not a
#: mobile, unknown destination, landline, the recipient replied STOP).
TWILIO_PERMANENT = frozenset({"21211", "21610", "21614", "30005", "30006"})
#: How many of a customer's latest messages are searched for the one a report is about.
RECENT = 50


class ReportInvalid(WaylineError):
    """The report cannot be read."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, kw_only=True, slots=True)
class Report:
    channel: Literal["email", "sms"]
    kind: Kind
    address: str
    #: hard | soft (bounces)
    bounce_type: str | None = None
    #: The email's Message-ID header, or the SMS provider's message id.
    provider_id: str | None = None
    reason: str | None = None


def _text(item: dict[str, Any], field: str, *, required: bool = False) -> str | None:
    value = item.get(field)
    if value is None or value == "":
        if required:
            raise ReportInvalid(field, "missing")
        return None
    if not isinstance(value, str | int):
        raise ReportInvalid(field, "must be text")
    return str(value)[:2000]


def email_reports(body: Any) -> list[Report]:
    """The reports of an email provider's request (generic or Postmark)."""
    items = body if isinstance(body, list) else [body]
    if not items or len(items) > 1000:
        raise ReportInvalid("body", "one report or a list of 1 to 1000")
    found = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ReportInvalid(f"[{index}]", "a report is a JSON object")
        try:
            found.append(_postmark(item) if "RecordType" in item else _generic(item))
        except ReportInvalid as exc:
            if isinstance(body, list):
                raise ReportInvalid(f"[{index}].{exc.field}", str(exc).split(": ", 1)[1]) from None
            raise
    return found


def _generic(item: dict[str, Any]) -> Report:
    kind = item.get("type")
    if kind not in ("bounce", "complaint", "delivery"):
        raise ReportInvalid("type", f"must be 'bounce', 'complaint' or 'delivery', not {kind!r}")
    address = _text(item, "email", required=True)
    assert address is not None
    bounce_type = _text(item, "bounce_type") or ("hard" if kind == "bounce" else None)
    if bounce_type not in (None, "hard", "soft"):
        raise ReportInvalid("bounce_type", f"must be 'hard' or 'soft', not {bounce_type!r}")
    return Report(
        channel="email",
        kind=kind,
        address=address,
        bounce_type=bounce_type,
        provider_id=_text(item, "message_id"),
        reason=_text(item, "reason"),
    )


#: Postmark bounce types that mean the mailbox will not take mail.
_POSTMARK_HARD = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "Blocked"})


def _postmark(item: dict[str, Any]) -> Report:
    record_type = item.get("RecordType")
    if record_type == "Bounce":
        address = _text(item, "Email", required=True)
        assert address is not None
        bounce = str(item.get("Type") or "")
        return Report(
            channel="email",
            kind="bounce",
            address=address,
            bounce_type="hard" if bounce in _POSTMARK_HARD else "soft",
            reason=_text(item, "Description") or bounce or None,
        )
    if record_type == "SpamComplaint":
        address = _text(item, "Email", required=True)
        assert address is not None
        return Report(channel="email", kind="complaint", address=address, reason="spam complaint")
    if record_type == "Delivery":
        address = _text(item, "Recipient", required=True)
        assert address is not None
        return Report(channel="email", kind="delivery", address=address)
    raise ReportInvalid("RecordType", f"not a report Wayline reads: {record_type!r}")


def twilio_report(form: dict[str, str]) -> Report | None:
    """The report of a Twilio status callback; None for statuses that say nothing new
    (queued, sending, sent)."""
    status = form.get("MessageStatus") or form.get("SmsStatus")
    if not status:
        raise ReportInvalid("MessageStatus", "missing")
    to = form.get("To")
    if not to:
        raise ReportInvalid("To", "missing")
    sid = form.get("MessageSid") or form.get("SmsSid")
    if status == "delivered":
        return Report(channel="sms", kind="delivery", address=to, provider_id=sid)
    if status in ("undelivered", "failed"):
        code = form.get("ErrorCode") or ""
        return Report(
            channel="sms",
            kind="bounce",
            address=to,
            bounce_type="hard" if code in TWILIO_PERMANENT else "soft",
            provider_id=sid,
            reason=f"{status} (error {code})" if code else status,
        )
    return None


# -- what a report does ---------------------------------------------------------------------

_EVENTS = {
    ("email", "delivery"): feedback.EMAIL_DELIVERED,
    ("email", "bounce"): feedback.EMAIL_BOUNCED,
    ("email", "complaint"): feedback.EMAIL_MARKED_AS_SPAM,
    ("sms", "delivery"): feedback.SMS_DELIVERED,
}
_HISTORY = {
    "delivery": MessageEvent.DELIVERED,
    "bounce": MessageEvent.BOUNCED,
    "complaint": MessageEvent.COMPLAINED,
}


def apply(store: SqlStore, workspace_id: str, report: Report) -> dict[str, Any]:
    """Suppress the address if the report says so; record it on its message and the
    customer's timeline. Returns what was done."""
    now = store.clock.now()
    suppressed = False
    if report.kind == "complaint" or (report.kind == "bounce" and report.bounce_type == "hard"):
        reason = (
            suppressions.Reason.COMPLAINT
            if report.kind == "complaint"
            else suppressions.Reason.HARD_BOUNCE
        )
        with store._write() as conn:
            suppressed = suppressions.suppress(
                store,
                conn,
                workspace_id,
                report.channel,
                report.address,
                reason,
                now,
                report.reason,
            )
    message = find_message(store, workspace_id, report)
    recorded = False
    if message is not None:
        detail: dict[str, Any] = {}
        if report.bounce_type:
            detail["bounce_type"] = report.bounce_type
        if report.reason:
            detail["reason"] = report.reason
        with store._write() as conn:
            recorded = record(
                store, conn, message, _HISTORY[report.kind], now, detail=detail or None
            )
        event = _EVENTS.get((report.channel, report.kind))
        if event is not None:
            feedback.emit(
                store,
                message,
                event,
                f"{report.kind}-{message.id}",
                feedback.message_properties(message, **detail),
            )
    return {
        "type": report.kind,
        "suppressed": suppressed,
        "message_id": message.id if message is not None else None,
        "recorded": recorded,
    }


def find_message(store: SqlStore, workspace_id: str, report: Report) -> OutboxMessage | None:
    """The message the report is about, among the latest sent to the address's customer."""
    kind = "email" if report.channel == "email" else "phone"
    value = addresses.normalise(report.channel, report.address)
    i, o = schema.identities, schema.outbox
    with store.engine.connect() as conn:
        profile_id = conn.scalar(
            sa.select(i.c.profile_id).where(
                i.c.workspace_id == workspace_id,
                i.c.kind == kind,
                i.c.value.in_({value, report.address.strip()}),
            )
        )
        if profile_id is None:
            return None
        rows = conn.execute(
            sa.select(o)
            .where(
                o.c.workspace_id == workspace_id,
                o.c.profile_id == profile_id,
                o.c.channel == report.channel,
                o.c.state == OutboxState.SENT.value,
            )
            .order_by(o.c.created_at.desc(), o.c.id.desc())
            .limit(RECENT)
        ).all()
    messages = [OutboxMessage.from_row(r) for r in rows]
    key = "message_id" if report.channel == "email" else "sid"
    if report.provider_id:
        wanted = report.provider_id.strip().strip("<>")
        for message in messages:
            result = message.result if isinstance(message.result, dict) else {}
            if str(result.get(key) or "").strip("<>") == wanted:
                return message
        return None
    if report.channel == "sms":
        return None
    return messages[0] if messages else None
