"""Alembic environment: runs on the connection that ``wayline.store.migrations`` hands in."""

from __future__ import annotations

from alembic import context

from wayline.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through wayline.store.migrations.upgrade()")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
