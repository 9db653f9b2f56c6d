"""Message templates in the workspace, versioned like journeys: applying a changed
template stores its next version, and sends use the latest."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from wayline.store import schema
from wayline.store.sql import SqlStore


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredTemplate:
    workspace_id: str
    name: str
    version: int
    channel: str
    spec: dict[str, Any]
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> StoredTemplate:
        return cls(
            workspace_id=row.workspace_id,
            name=row.name,
            version=row.version,
            channel=row.channel,
            spec=orjson.loads(row.spec),
            created_at=row.created_at,
        )


def _digest(spec: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)).hexdigest()


class TemplateStore:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def apply(
        self, workspace_id: str, name: str, channel: str, spec: dict[str, Any]
    ) -> tuple[int, bool]:
        """Store the template as a new version unless it equals the latest. Returns
        (version, whether a new version was stored)."""
        t = schema.message_templates
        digest = _digest(spec)
        with self.store._write() as conn:
            latest = conn.execute(
                sa.select(t.c.version, t.c.digest)
                .where(t.c.workspace_id == workspace_id, t.c.name == name)
                .order_by(t.c.version.desc())
                .limit(1)
            ).first()
            if latest is not None and latest.digest == digest:
                return int(latest.version), False
            version = 1 if latest is None else int(latest.version) + 1
            conn.execute(
                sa.insert(t).values(
                    workspace_id=workspace_id,
                    name=name,
                    version=version,
                    channel=channel,
                    spec=orjson.dumps(spec).decode(),
                    digest=digest,
                    created_at=self.store.clock.now(),
                )
            )
        return version, True

    def latest(self, workspace_id: str, name: str) -> StoredTemplate | None:
        t = schema.message_templates
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(t)
                .where(t.c.workspace_id == workspace_id, t.c.name == name)
                .order_by(t.c.version.desc())
                .limit(1)
            ).first()
        return None if row is None else StoredTemplate.from_row(row)

    def list(self, workspace_id: str) -> list[StoredTemplate]:
        """The latest version of each of the workspace's templates, by name."""
        t = schema.message_templates
        newest = (
            sa.select(t.c.name, sa.func.max(t.c.version).label("version"))
            .where(t.c.workspace_id == workspace_id)
            .group_by(t.c.name)
            .subquery()
        )
        query = (
            sa.select(t)
            .join(newest, sa.and_(t.c.name == newest.c.name, t.c.version == newest.c.version))
            .where(t.c.workspace_id == workspace_id)
            .order_by(t.c.name)
        )
        with self.store.engine.connect() as conn:
            return [StoredTemplate.from_row(r) for r in conn.execute(query)]


class VariableStore:
    """The workspace's template variables (``workspace.NAME``), read with a short cache."""

    def __init__(self, store: SqlStore, ttl: float = 10.0) -> None:
        self.store = store
        self.ttl = ttl
        self._cache: dict[str, tuple[dict[str, Any], float]] = {}
        self._lock = threading.Lock()

    def replace(self, workspace_id: str, variables: dict[str, Any]) -> None:
        """Make these the workspace's variables (those not given are removed)."""
        t = schema.workspace_variables
        now = self.store.clock.now()
        with self.store._write() as conn:
            conn.execute(sa.delete(t).where(t.c.workspace_id == workspace_id))
            if variables:
                conn.execute(
                    sa.insert(t),
                    [
                        {
                            "workspace_id": workspace_id,
                            "name": name,
                            "value": orjson.dumps(value).decode(),
                            "updated_at": now,
                        }
                        for name, value in variables.items()
                    ],
                )
        with self._lock:
            self._cache.pop(workspace_id, None)

    def get(self, workspace_id: str) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(workspace_id)
        if hit is not None and hit[1] > now:
            return hit[0]
        t = schema.workspace_variables
        with self.store.engine.connect() as conn:
            found = {
                name: orjson.loads(value)
                for name, value in conn.execute(
                    sa.select(t.c.name, t.c.value).where(t.c.workspace_id == workspace_id)
                )
            }
        with self._lock:
            self._cache[workspace_id] = (found, now + self.ttl)
        return found
