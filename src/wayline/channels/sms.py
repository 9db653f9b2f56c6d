"""The ``sms`` channel: a template's ``body`` rendered for the customer, sent through a
Twilio-compatible REST API.

Per workspace (``PUT /api/v1/channels/sms``): the API's base URL (Twilio's by default;
any provider speaking the same API fits), the account SID, the sender (``from`` number or
``messaging_service_sid``) and the region numbers without a country code are read in.
The auth token is a secret. The customer's number (``traits.phone``, else their phone
identity) is checked and written in E.164 (phonenumbers). The message is counted in
segments, as carriers bill it: GSM-7 text is 160 characters in one segment or 153 per
segment when split, anything else (UCS-2) 70 or 67.

2xx is sent; 429 (Retry-After honoured), 408 and 5xx and network errors are tried again;
other answers (an invalid number, an unverified sender) are permanent.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from wayline.addresses import e164
from wayline.channels.base import Delivery
from wayline.channels.config import ChannelConfigs
from wayline.channels.netguard import (
    AllowList,
    GuardedTransport,
    TargetRefused,
    plain_http_refusal,
)
from wayline.channels.secrets import stored_secret
from wayline.channels.templates import Renderer, RenderError, TemplateSpec
from wayline.channels.webhook import retry_after
from wayline.store import schema
from wayline.store.outbox import OutboxMessage
from wayline.store.profiles import traits_of
from wayline.store.sql import SqlStore
from wayline.store.templates import TemplateStore, VariableStore

#: The name of the auth token in ``workspace_secrets``.
SMS_AUTH_TOKEN = "sms_auth_token"

#: The GSM 03.38 basic character set (one septet each) and its extension (two septets).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


class SmsSettings(BaseModel):
    """A workspace's SMS settings; the auth token is kept apart as a secret."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    base_url: str = "https://api.twilio.com"
    account_sid: str = Field(min_length=1)
    from_: str | None = Field(None, alias="from")
    messaging_service_sid: str | None = None
    #: Where numbers written without a country code are read (ISO 3166 code, e.g. US).
    default_region: str | None = None

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("from_")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("+") and e164(value, None) is None:
            raise ValueError(f"not a phone number in E.164: {value!r}")
        return value


def segments(text: str) -> tuple[str, int]:
    """The encoding (``GSM-7`` or ``UCS-2``) and the number of segments of a message."""
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in text):
        units = sum(2 if c in GSM_EXTENDED else 1 for c in text)
        single, part = 160, 153
        encoding = "GSM-7"
    else:
        # UTF-16 code units: a character outside the BMP (most emoji) takes two
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
        encoding = "UCS-2"
    if units <= single:
        return encoding, 1
    return encoding, -(-units // part)


class SmsChannel:
    def __init__(
        self,
        store: SqlStore,
        *,
        allowed_hosts: str = "",
        timeout: float = 10.0,
        max_connections: int = 16,
        renderer: Renderer | None = None,
    ) -> None:
        self.store = store
        self.configs = ChannelConfigs(store)
        self.templates = TemplateStore(store)
        self.variables = VariableStore(store)
        self.renderer = renderer or Renderer()
        self.timeout = timeout
        self.allowed = AllowList(allowed_hosts)
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self.client = httpx.Client(
            transport=GuardedTransport(self.allowed, limits=limits),
            follow_redirects=False,
            trust_env=False,
            timeout=timeout,
        )

    def settings(self, workspace_id: str) -> SmsSettings | None:
        found = self.configs.get(workspace_id, "sms")
        return None if found is None else SmsSettings.model_validate(found)

    def deliver(self, message: OutboxMessage) -> Delivery:
        settings = self.settings(message.workspace_id)
        if settings is None:
            return Delivery.transient("SMS is not set up for this workspace")
        if (refused := plain_http_refusal(settings.base_url, self.allowed)) is not None:
            return Delivery.permanent(f"SMS base_url {refused}")
        name = str(message.payload.get("template") or "")
        stored = self.templates.latest(message.workspace_id, name)
        if stored is None or stored.channel != "sms":
            return Delivery.permanent(f"no SMS template {name!r}")
        if message.profile_id is None:
            return Delivery.permanent("the message has no recipient")
        traits, number = self._recipient(message.profile_id)
        if traits is None:
            return Delivery.permanent("the customer no longer exists")
        if number is None:
            return Delivery.permanent("the customer has no phone number")
        to = e164(number, settings.default_region)
        if to is None:
            return Delivery.permanent(f"not a valid phone number: {number!r}")
        from wayline.channels.email import profile_scope
        from wayline.channels.templates import render_globals, workspace_scope

        workspace = self.store.workspace(message.workspace_id)
        queued = dict(message.payload.get("scope") or {})
        scope = {
            **render_globals(traits, workspace.timezone if workspace else "UTC"),
            "profile": profile_scope(message.profile_id, traits),
            "journey": queued.get("journey", {"id": message.journey_id}),
            "event": queued.get("event", {}),
            "message": {"id": message.id},
            "workspace": workspace_scope(
                message.workspace_id,
                workspace.name if workspace else "",
                workspace.timezone if workspace else "UTC",
                self.variables.get(message.workspace_id),
            ),
        }
        try:
            body = self.renderer.sms(TemplateSpec.model_validate(stored.spec), scope, strict=False)
        except RenderError as exc:
            return Delivery.permanent(f"template {name!r}: {exc}")
        if not body:
            return Delivery.permanent(f"template {name!r} rendered an empty message")
        encoding, count = segments(body)
        form = {"To": to, "Body": body}
        if settings.messaging_service_sid:
            form["MessagingServiceSid"] = settings.messaging_service_sid
        elif settings.from_:
            form["From"] = settings.from_
        else:
            return Delivery.permanent("SMS settings have neither 'from' nor messaging_service_sid")
        token = stored_secret(self.store, message.workspace_id, SMS_AUTH_TOKEN) or ""
        url = f"{settings.base_url}/2010-04-01/Accounts/{settings.account_sid}/Messages.json"
        try:
            response = self.client.post(url, data=form, auth=(settings.account_sid, token))
        except TargetRefused as exc:
            return Delivery.permanent(str(exc))
        except httpx.TimeoutException as exc:
            return Delivery.transient(f"timed out: {type(exc).__name__}")
        except httpx.TransportError as exc:
            return Delivery.transient(f"{type(exc).__name__}: {exc}".rstrip(": "))
        answer = _json(response)
        status = response.status_code
        if 200 <= status < 300:
            return Delivery.ok(
                {
                    "to": to,
                    "sid": answer.get("sid"),
                    "status": answer.get("status"),
                    "segments": count,
                    "encoding": encoding,
                    "template": name,
                    "template_version": stored.version,
                }
            )
        said = " ".join(str(answer[k]) for k in ("code", "message") if answer.get(k))
        error = f"HTTP {status}: {said}" if said else f"HTTP {status}"
        if status in (408, 429) or status >= 500:
            delay = retry_after(response.headers.get("retry-after"), response.headers.get("date"))
            return Delivery.transient(error, retry_after=delay)
        return Delivery.permanent(error)

    def _recipient(self, profile_id: str) -> tuple[dict[str, Any] | None, str | None]:
        with self.store.engine.connect() as conn:
            exists = conn.scalar(
                sa.select(schema.profiles.c.id).where(schema.profiles.c.id == profile_id)
            )
            if exists is None:
                return None, None
            traits = traits_of(conn, [profile_id]).get(profile_id, {})
            number = traits.get("phone")
            if not isinstance(number, str) or not number.strip():
                t = schema.identities
                number = conn.scalar(
                    sa.select(t.c.value)
                    .where(t.c.profile_id == profile_id, t.c.kind == "phone")
                    .order_by(t.c.first_seen)
                    .limit(1)
                )
        return traits, number

    def close(self) -> None:
        self.client.close()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        found = orjson.loads(response.content[:65536])
    except orjson.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}
