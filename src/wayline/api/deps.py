"""What the routes need: the services of this process, and who is calling."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request

from wayline.clock import Clock
from wayline.ingest import Ingestor
from wayline.settings import Settings
from wayline.store.base import Credential, CredentialKind, Store
from wayline.warehouse_port import WarehouseEraser

if TYPE_CHECKING:
    from wayline.analytics.remote import ServerNote
    from wayline.analytics.warehouse import Warehouse


@dataclass(kw_only=True)
class Services:
    settings: Settings
    store: Store
    clock: Clock
    ingestor: Ingestor
    #: Present when this process also runs the warehouse loader (so an erase can report
    #: the warehouse rows it removed at once); otherwise the loader applies it later.
    eraser: WarehouseEraser | None = None
    #: The analytics warehouse, for the analytics routes (opened on first use).
    warehouse: SharedWarehouse | None = None
    #: Set while this process serves the embedded warehouse it holds to local reports.
    server_note: ServerNote | None = None


class SharedWarehouse:
    """The process's one warehouse handle: the loader's if this process loads, otherwise
    opened on the first analytics request (a DuckDB file held by another process cannot
    be opened, and an API process that never reports should not try)."""

    def __init__(self, opener: Callable[[], Warehouse]) -> None:
        self._opener = opener
        self._warehouse: Warehouse | None = None
        self._lock = threading.Lock()

    def get(self) -> Warehouse:
        with self._lock:
            if self._warehouse is None:
                self._warehouse = self._opener()
            return self._warehouse

    def close(self) -> None:
        with self._lock:
            if self._warehouse is not None:
                self._warehouse.close()
                self._warehouse = None


class CredentialCache:
    """Authenticates secrets, remembering each answer for ``ttl`` seconds.

    The default is one second, for positive and negative answers alike. The cache belongs to
    one process, and a credential can be revoked (or created) by another: a CLI command,
    another API process of ``wayline serve``, another host. Only the store knows, so how
    long an answer is kept is how long a revoked key may go on working elsewhere. One
    second bounds that, yet still spares the store all but one lookup per key and second
    when an SDK sends in bursts. Negative answers are kept as long, so that a flood of bad
    keys cannot cost a lookup each, and so that a key created elsewhere works within a
    second too. A revocation made through this process's API clears the cache at once.
    """

    def __init__(self, store: Store, ttl: float = 1.0) -> None:
        self._store = store
        self._ttl = ttl
        self._known: dict[str, tuple[Credential | None, float]] = {}
        #: Moved on by every ``clear``: an answer looked up before it is not kept.
        self._generation = 0

    def get(self, secret: str) -> Credential | None:
        hit = self._known.get(secret)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        generation = self._generation
        credential = self._store.authenticate(secret)
        if len(self._known) > 10_000:
            self._known.clear()
        # a lookup that raced a revocation may have read the key as it was before
        if generation == self._generation:
            self._known[secret] = (credential, now + self._ttl)
        return credential

    def clear(self) -> None:
        """Forget every answer: the next request of each key asks the store."""
        self._generation += 1
        self._known.clear()


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def basic_username(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


def admin_workspace(request: Request) -> str:
    """The workspace of the admin token in ``Authorization: Bearer …``."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            401,
            "an admin token is required: Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    credential = request.app.state.credentials.get(token.strip())
    if credential is None:
        raise HTTPException(401, "unknown or revoked token")
    if credential.kind is not CredentialKind.ADMIN_TOKEN:
        raise HTTPException(403, "a write key may only send events; use an admin token")
    workspace_id: str = credential.workspace_id
    return workspace_id


ServicesDep = Annotated[Services, Depends(services)]
AdminWorkspace = Annotated[str, Depends(admin_workspace)]
