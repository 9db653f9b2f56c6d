"""Journeys and their versions: a spec is stored as a new version unless it equals the
latest, and customers stay on the version they entered."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema
from wayline.store.journeys.rows import JourneyRecord, JourneyStatus
from wayline.store.sql import SqlStore


def spec_digest(spec: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)).hexdigest()


class Versions:
    """Journey and version operations of :class:`~wayline.store.journeys.JourneyStore`."""

    store: SqlStore

    # -- journeys and versions -----------------------------------------------------------

    def apply(
        self, workspace_id: str, journey_id: str, name: str, spec: dict[str, Any]
    ) -> tuple[int, bool]:
        """Store the spec as a new version unless it equals the latest. Returns
        (version, whether a new version was stored)."""
        with self.store._write() as conn:
            return self.add_version(conn, workspace_id, journey_id, name, spec)

    def add_version(
        self,
        conn: Connection,
        workspace_id: str,
        journey_id: str,
        name: str,
        spec: dict[str, Any],
    ) -> tuple[int, bool]:
        """:meth:`apply` inside the caller's transaction."""
        digest = spec_digest(spec)
        now = self.store.clock.now()
        v = schema.journey_versions
        latest = conn.execute(
            sa.select(v.c.version, v.c.digest)
            .where(v.c.workspace_id == workspace_id, v.c.journey_id == journey_id)
            .order_by(v.c.version.desc())
            .limit(1)
        ).first()
        if latest is not None and latest.digest == digest:
            return int(latest.version), False
        version = 1 if latest is None else int(latest.version) + 1
        conn.execute(
            sa.insert(v).values(
                workspace_id=workspace_id,
                journey_id=journey_id,
                version=version,
                spec=orjson.dumps(spec).decode(),
                digest=digest,
                created_at=now,
            )
        )
        j = schema.journeys
        if latest is None:
            conn.execute(
                sa.insert(j).values(
                    workspace_id=workspace_id,
                    journey_id=journey_id,
                    name=name,
                    status=JourneyStatus.ACTIVE.value,
                    version=version,
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            conn.execute(
                sa.update(j)
                .where(j.c.workspace_id == workspace_id, j.c.journey_id == journey_id)
                .values(name=name, version=version, updated_at=now)
            )
        return version, True

    def journey(self, workspace_id: str, journey_id: str) -> JourneyRecord | None:
        j = schema.journeys
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(j).where(j.c.workspace_id == workspace_id, j.c.journey_id == journey_id)
            ).first()
        return None if row is None else JourneyRecord.from_row(row)

    def journeys(self, workspace_id: str | None = None) -> list[JourneyRecord]:
        j = schema.journeys
        query = sa.select(j).order_by(j.c.workspace_id, j.c.journey_id)
        if workspace_id is not None:
            query = query.where(j.c.workspace_id == workspace_id)
        with self.store.engine.connect() as conn:
            return [JourneyRecord.from_row(r) for r in conn.execute(query)]

    def stamp(self, conn: Connection) -> tuple[Any, ...]:
        """What changes whenever a journey is applied, paused, resumed or archived (one
        aggregate row): a process compares it before acting on its catalog of journeys."""
        j = schema.journeys
        return tuple(
            conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.max(j.c.updated_at),
                    sa.func.sum(j.c.version),
                    sa.func.sum(sa.case((j.c.status == JourneyStatus.ACTIVE.value, 1), else_=0)),
                )
            ).one()
        )

    def spec(self, workspace_id: str, journey_id: str, version: int) -> dict[str, Any]:
        v = schema.journey_versions
        with self.store.engine.connect() as conn:
            text = conn.scalar(
                sa.select(v.c.spec).where(
                    v.c.workspace_id == workspace_id,
                    v.c.journey_id == journey_id,
                    v.c.version == version,
                )
            )
        if text is None:
            raise KeyError(f"{journey_id} v{version}")
        spec: dict[str, Any] = orjson.loads(text)
        return spec

    def set_status(self, workspace_id: str, journey_id: str, status: JourneyStatus) -> bool:
        j = schema.journeys
        with self.store._write() as conn:
            return bool(
                conn.execute(
                    sa.update(j)
                    .where(j.c.workspace_id == workspace_id, j.c.journey_id == journey_id)
                    .values(status=status.value, updated_at=self.store.clock.now())
                ).rowcount
            )
