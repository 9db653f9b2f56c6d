"""``/api/v1/workspace/credentials``: the workspace's write keys and admin tokens.

A new credential's secret is in the answer to its creation and nowhere else: the store
keeps only its hash. A revocation is refused by this process from the next request on,
and by every other process within a second (``deps.CredentialCache``); ``grace_seconds``
lets the old key work a while longer, for a rotation.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from wayline.api.deps import AdminWorkspace, ServicesDep
from wayline.errors import CredentialNotFound, CredentialRevoked, LastAdminToken
from wayline.store.base import MAX_GRACE, CredentialInfo, CredentialKind

router = APIRouter(prefix="/api/v1/workspace/credentials", tags=["credentials"])

MAX_GRACE_SECONDS = int(MAX_GRACE.total_seconds())


class CredentialOut(BaseModel):
    id: str
    kind: CredentialKind
    #: The first characters of the secret, to tell keys apart.
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = Field(
        description="When it stops (or stopped) working; null while it has no end"
    )

    @classmethod
    def of(cls, info: CredentialInfo) -> CredentialOut:
        return cls(
            id=info.id,
            kind=info.kind,
            prefix=info.prefix,
            created_at=info.created_at,
            revoked_at=info.revoked_at,
        )


class CreatedCredential(CredentialOut):
    secret: str = Field(description="The key itself: shown this once, stored only hashed")


class CredentialList(BaseModel):
    credentials: list[CredentialOut]


class NewCredential(BaseModel):
    kind: CredentialKind = Field(description="write_key or admin_token")


@router.get("", response_model=CredentialList)
async def list_credentials(workspace_id: AdminWorkspace, services: ServicesDep) -> CredentialList:
    """The workspace's credentials, revoked ones too, oldest first; never their secrets."""
    found = await run_in_threadpool(services.store.list_credentials, workspace_id)
    return CredentialList(credentials=[CredentialOut.of(c) for c in found])


@router.post("", response_model=CreatedCredential, status_code=201)
async def create_credential(
    body: NewCredential, workspace_id: AdminWorkspace, services: ServicesDep
) -> CreatedCredential:
    """A new write key or admin token; its ``secret`` is shown in this answer only."""
    info, secret = await run_in_threadpool(
        services.store.create_credential, workspace_id, body.kind
    )
    return CreatedCredential(**CredentialOut.of(info).model_dump(), secret=secret)


@router.delete("/{credential_id}", response_model=CredentialOut)
async def revoke_credential(
    credential_id: str,
    request: Request,
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    grace_seconds: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_GRACE_SECONDS,
            description="Keep accepting the credential this many seconds more (a rotation)",
        ),
    ] = 0,
) -> CredentialOut:
    """Revoke a credential, now or after ``grace_seconds``. ``404`` for an id not in the
    workspace, ``409`` for one already revoked or for the workspace's last admin token."""
    at = services.clock.now() + timedelta(seconds=grace_seconds) if grace_seconds else None
    try:
        revoked = await run_in_threadpool(
            lambda: services.store.revoke_credential(workspace_id, credential_id, at=at)
        )
    except CredentialNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except (CredentialRevoked, LastAdminToken) as exc:
        raise HTTPException(409, str(exc)) from None
    # this process refuses the key from the next request on (others within the cache's TTL)
    request.app.state.credentials.clear()
    return CredentialOut.of(revoked)
