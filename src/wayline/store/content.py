"""In-app content held for customers, and the workspace's placements.

The ``inapp`` channel stores what a journey sent as one item per outbox message; the
content API serves, per customer and placement, the item that is neither expired nor
dismissed with the highest priority, the newest among equals. Items follow a customer
whose profile merges into another (an anonymous visitor who logs in) and go with an erase.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from wayline.store import schema
from wayline.store.sql import SqlStore


@dataclass(frozen=True, kw_only=True, slots=True)
class ContentItem:
    message_id: int
    workspace_id: str
    profile_id: str
    placement: str
    template: str
    template_version: int
    journey_id: str | None
    node: str | None
    priority: int
    content: dict[str, Any] | None
    html: str | None
    created_at: datetime
    expires_at: datetime | None
    dismissed_at: datetime | None
    served_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> ContentItem:
        body = orjson.loads(row.body)
        return cls(
            message_id=row.message_id,
            workspace_id=row.workspace_id,
            profile_id=row.profile_id,
            placement=row.placement,
            template=row.template,
            template_version=row.template_version,
            journey_id=row.journey_id,
            node=row.node,
            priority=row.priority,
            content=body.get("content"),
            html=body.get("html"),
            created_at=row.created_at,
            expires_at=row.expires_at,
            dismissed_at=row.dismissed_at,
            served_at=row.served_at,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredPlacement:
    workspace_id: str
    name: str
    spec: dict[str, Any]
    updated_at: datetime


class ContentStore:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def put(self, item: ContentItem) -> bool:
        """Store a delivered item; a repeated delivery of the same message changes
        nothing. Returns whether it was new."""
        t = schema.content_items
        body = {"content": item.content, "html": item.html}
        stmt = (
            self.store._insert(t)
            .values(
                message_id=item.message_id,
                workspace_id=item.workspace_id,
                profile_id=item.profile_id,
                placement=item.placement,
                template=item.template,
                template_version=item.template_version,
                journey_id=item.journey_id,
                node=item.node,
                priority=item.priority,
                body=orjson.dumps(body).decode(),
                created_at=item.created_at,
                expires_at=item.expires_at,
            )
            .on_conflict_do_nothing(index_elements=["message_id"])
        )
        with self.store._write() as conn:
            # items nobody will see again make room: expired or dismissed ones
            conn.execute(
                sa.delete(t).where(
                    t.c.workspace_id == item.workspace_id,
                    t.c.profile_id == item.profile_id,
                    t.c.placement == item.placement,
                    # a repeated delivery must not bring back its own dismissed item
                    t.c.message_id != item.message_id,
                    sa.or_(t.c.dismissed_at.is_not(None), t.c.expires_at <= item.created_at),
                )
            )
            return bool(conn.execute(stmt).rowcount)

    def current(
        self, workspace_id: str, profiles: list[str], placement: str, now: datetime
    ) -> ContentItem | None:
        """What the customer (known by these profiles) sees on the placement now, or None."""
        t = schema.content_items
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(t)
                .where(
                    t.c.workspace_id == workspace_id,
                    t.c.profile_id.in_(profiles),
                    t.c.placement == placement,
                    t.c.dismissed_at.is_(None),
                    sa.or_(t.c.expires_at.is_(None), t.c.expires_at > now),
                )
                .order_by(t.c.priority.desc(), t.c.created_at.desc(), t.c.message_id.desc())
                .limit(1)
            ).first()
        return None if row is None else ContentItem.from_row(row)

    def get(self, workspace_id: str, profiles: list[str], message_id: int) -> ContentItem | None:
        t = schema.content_items
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(t).where(
                    t.c.workspace_id == workspace_id,
                    t.c.profile_id.in_(profiles),
                    t.c.message_id == message_id,
                )
            ).first()
        return None if row is None else ContentItem.from_row(row)

    def mark_served(self, message_id: int, at: datetime) -> bool:
        """Note the first time the item was returned. Returns whether this was it."""
        t = schema.content_items
        with self.store._write() as conn:
            changed = conn.execute(
                sa.update(t)
                .where(t.c.message_id == message_id, t.c.served_at.is_(None))
                .values(served_at=at)
            ).rowcount
        return bool(changed)

    def dismiss(self, message_id: int, at: datetime) -> bool:
        """The customer dismissed the item: it is not served again."""
        t = schema.content_items
        with self.store._write() as conn:
            changed = conn.execute(
                sa.update(t)
                .where(t.c.message_id == message_id, t.c.dismissed_at.is_(None))
                .values(dismissed_at=at)
            ).rowcount
        return bool(changed)

    def for_profile(self, workspace_id: str, profile_id: str) -> list[ContentItem]:
        t = schema.content_items
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t)
                .where(t.c.workspace_id == workspace_id, t.c.profile_id == profile_id)
                .order_by(t.c.message_id)
            ).all()
        return [ContentItem.from_row(r) for r in rows]


class PlacementStore:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def put(self, workspace_id: str, name: str, spec: dict[str, Any]) -> bool:
        """Store the placement, replacing one of the same name. Returns whether it changed."""
        t = schema.content_placements
        text = orjson.dumps(spec, option=orjson.OPT_SORT_KEYS).decode()
        with self.store._write() as conn:
            old = conn.scalar(
                sa.select(t.c.spec).where(t.c.workspace_id == workspace_id, t.c.name == name)
            )
            if old == text:
                return False
            now = self.store.clock.now()
            if old is None:
                conn.execute(
                    sa.insert(t).values(
                        workspace_id=workspace_id, name=name, spec=text, updated_at=now
                    )
                )
            else:
                conn.execute(
                    sa.update(t)
                    .where(t.c.workspace_id == workspace_id, t.c.name == name)
                    .values(spec=text, updated_at=now)
                )
        return True

    def get(self, workspace_id: str, name: str) -> StoredPlacement | None:
        t = schema.content_placements
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(t).where(t.c.workspace_id == workspace_id, t.c.name == name)
            ).first()
        return None if row is None else _placement(row)

    def list(self, workspace_id: str) -> list[StoredPlacement]:
        t = schema.content_placements
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t).where(t.c.workspace_id == workspace_id).order_by(t.c.name)
            ).all()
        return [_placement(r) for r in rows]

    def delete(self, workspace_id: str, name: str) -> bool:
        t = schema.content_placements
        with self.store._write() as conn:
            gone = conn.execute(
                sa.delete(t).where(t.c.workspace_id == workspace_id, t.c.name == name)
            ).rowcount
        return bool(gone)


def _placement(row: Any) -> StoredPlacement:
    return StoredPlacement(
        workspace_id=row.workspace_id,
        name=row.name,
        spec=orjson.loads(row.spec),
        updated_at=row.updated_at,
    )
