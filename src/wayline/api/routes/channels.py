"""``/api/v1/channels``: each workspace's channel settings. Secrets go in, never out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from starlette.concurrency import run_in_threadpool

from wayline.api.deps import AdminWorkspace, ServicesDep
from wayline.api.responses import JSON
from wayline.channels.config import ChannelConfigs
from wayline.channels.email import DKIM_PRIVATE_KEY, SMTP_PASSWORD, EmailSettings
from wayline.channels.netguard import AllowList, plain_http_refusal
from wayline.channels.secrets import set_secret, stored_secret
from wayline.channels.sms import SMS_AUTH_TOKEN, SmsSettings
from wayline.store.sql import SqlStore

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])


class EmailSetup(EmailSettings):
    """The email settings, with the secrets that go with them (kept apart, never shown)."""

    password: str | None = None
    dkim_private_key: str | None = None


def _store(services: ServicesDep) -> SqlStore:
    assert isinstance(services.store, SqlStore)
    return services.store


def _shown(store: SqlStore, workspace_id: str, config: dict[str, Any]) -> dict[str, Any]:
    return {
        **config,
        "password_set": stored_secret(store, workspace_id, SMTP_PASSWORD) is not None,
        "dkim_private_key_set": stored_secret(store, workspace_id, DKIM_PRIVATE_KEY) is not None,
    }


@router.put("/email")
async def set_email(
    body: EmailSetup, workspace_id: AdminWorkspace, services: ServicesDep
) -> dict[str, Any]:
    """Set the workspace's SMTP server and sender. A password or DKIM key left out is kept."""
    store = _store(services)

    def run() -> dict[str, Any]:
        config = body.model_dump(exclude={"password", "dkim_private_key"}, exclude_none=True)
        if body.password is not None:
            set_secret(store, workspace_id, SMTP_PASSWORD, body.password)
        if body.dkim_private_key is not None:
            if "PRIVATE KEY" not in body.dkim_private_key:
                raise HTTPException(422, "dkim_private_key: not a PEM private key")
            set_secret(store, workspace_id, DKIM_PRIVATE_KEY, body.dkim_private_key)
        ChannelConfigs(store).set(workspace_id, "email", config)
        return _shown(store, workspace_id, config)

    return await run_in_threadpool(run)


@router.get("/email")
async def get_email(workspace_id: AdminWorkspace, services: ServicesDep) -> dict[str, Any]:
    """The workspace's email settings; secrets only as whether they are set."""
    store = _store(services)

    def run() -> dict[str, Any]:
        config = ChannelConfigs(store, ttl=0).get(workspace_id, "email")
        if config is None:
            raise HTTPException(404, "email is not set up for this workspace")
        return _shown(store, workspace_id, config)

    return await run_in_threadpool(run)


class SmsSetup(SmsSettings):
    """The SMS settings, with the provider's auth token (kept apart, never shown)."""

    auth_token: str | None = None


@router.put("/sms", response_model=None)
async def set_sms(
    body: SmsSetup, workspace_id: AdminWorkspace, services: ServicesDep
) -> dict[str, Any] | JSON:
    """Set the workspace's SMS provider (Twilio-compatible). An auth token left out is kept."""
    store = _store(services)

    allowed = AllowList(services.settings.webhook_allowed_hosts)
    if (refused := plain_http_refusal(body.base_url, allowed)) is not None:
        return JSON({"error": f"body.base_url: {refused}", "field": "body.base_url"}, 422)

    def run() -> dict[str, Any]:
        if not (body.from_ or body.messaging_service_sid):
            raise HTTPException(422, "from: give a sender number or a messaging_service_sid")
        config = body.model_dump(exclude={"auth_token"}, exclude_none=True, by_alias=True)
        if body.auth_token is not None:
            set_secret(store, workspace_id, SMS_AUTH_TOKEN, body.auth_token)
        ChannelConfigs(store).set(workspace_id, "sms", config)
        return {
            **config,
            "auth_token_set": stored_secret(store, workspace_id, SMS_AUTH_TOKEN) is not None,
        }

    return await run_in_threadpool(run)


@router.get("/sms")
async def get_sms(workspace_id: AdminWorkspace, services: ServicesDep) -> dict[str, Any]:
    """The workspace's SMS settings; the auth token only as whether it is set."""
    store = _store(services)

    def run() -> dict[str, Any]:
        config = ChannelConfigs(store, ttl=0).get(workspace_id, "sms")
        if config is None:
            raise HTTPException(404, "SMS is not set up for this workspace")
        return {
            **config,
            "auth_token_set": stored_secret(store, workspace_id, SMS_AUTH_TOKEN) is not None,
        }

    return await run_in_threadpool(run)
