"""``/api/v1/channels/inapp``: the workspace's in-app settings (identity verification)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from wayline.api.deps import AdminWorkspace, ServicesDep
from wayline.api.responses import JSON
from wayline.channels.config import ChannelConfigs
from wayline.channels.secrets import set_secret, stored_secret
from wayline.channels.verification import INAPP_IDENTITY_SECRET, InAppSetup
from wayline.store.sql import SqlStore

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])


def _shown(store: SqlStore, workspace_id: str, config: dict[str, Any]) -> dict[str, Any]:
    secret = stored_secret(store, workspace_id, INAPP_IDENTITY_SECRET)
    return {**config, "identity_secret_set": secret is not None}


@router.put("/inapp")
async def set_inapp(body: InAppSetup, workspace_id: AdminWorkspace, services: ServicesDep) -> Any:
    """Turn identity verification of the content API on or off. A secret left out is kept."""
    store = services.store
    assert isinstance(store, SqlStore)

    def run() -> dict[str, Any] | JSON:
        has_secret = stored_secret(store, workspace_id, INAPP_IDENTITY_SECRET) is not None
        if body.verify_users and body.identity_secret is None and not has_secret:
            return JSON(
                {
                    "error": "identity_secret: verify_users needs a secret to check with",
                    "field": "identity_secret",
                },
                status_code=422,
            )
        if body.identity_secret is not None:
            set_secret(store, workspace_id, INAPP_IDENTITY_SECRET, body.identity_secret)
        config = body.model_dump(exclude={"identity_secret"})
        ChannelConfigs(store).set(workspace_id, "inapp", config)
        return _shown(store, workspace_id, config)

    return await run_in_threadpool(run)


@router.get("/inapp")
async def get_inapp(workspace_id: AdminWorkspace, services: ServicesDep) -> dict[str, Any]:
    """The workspace's in-app settings; the secret only as whether it is set."""
    store = services.store
    assert isinstance(store, SqlStore)

    def run() -> dict[str, Any]:
        config = ChannelConfigs(store, ttl=0).get(workspace_id, "inapp") or {"verify_users": False}
        return _shown(store, workspace_id, config)

    return await run_in_threadpool(run)
