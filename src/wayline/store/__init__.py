"""The state store: one narrow interface (``base.Store``), a backend per database."""

from __future__ import annotations

from wayline.clock import Clock, SystemClock
from wayline.errors import ConfigurationError
from wayline.settings import Settings
from wayline.store.base import Store


def open_store(settings: Settings, clock: Clock | None = None) -> Store:
    """The backend the database URL names: ``sqlite:///…`` or ``postgresql://…``."""
    url = settings.resolved_database_url()
    clock = clock or SystemClock()
    from wayline.store.secret_box import secret_box
    from wayline.store.sql import SqlStore

    store: SqlStore
    if url.startswith("sqlite"):
        from wayline.store.sqlite import SqliteStore

        store = SqliteStore(url, clock, synchronous=settings.sqlite_synchronous)
    elif url.startswith(("postgresql", "postgres")):
        from wayline.store.postgres import PostgresStore

        store = PostgresStore(url, clock)
    else:
        raise ConfigurationError(
            f"WAYLINE_DATABASE_URL: unsupported database {url.split(':')[0]!r}"
        )
    store.use_secret_box(secret_box(settings))
    return store


__all__ = ["Store", "open_store"]
