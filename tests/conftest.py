"""Fixtures shared by every tier: a fresh database per test, on SQLite and on PostgreSQL.

PostgreSQL tests clone a migrated template database (``CREATE DATABASE … TEMPLATE …``), so
each test starts from an empty, current schema in milliseconds. Under ``CI=true`` an
unreachable PostgreSQL fails the run instead of skipping its tests.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from wayline.analytics.warehouse import Warehouse, open_warehouse
from wayline.settings import Settings
from wayline.store import Store, open_store
from wayline.store.migrations import HERE as MIGRATIONS
from wayline.testing import ManualClock

PG_ADMIN_URL = os.environ.get(
    "WAYLINE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgresql")
#: The repository's root: the folder that holds ``tests/``.
ROOT = Path(__file__).resolve().parents[1]


def in_ci() -> bool:
    """Whether this is a CI run (``CI=true``), where a missing prerequisite fails the run."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def retail_data() -> Path:
    """The Online Retail data set (``online-retail.csv.gz``): ``WAYLINE_RETAIL_DATA`` if set,
    else ``../shared/data/online-retail.csv.gz`` beside the repository. Missing, it fails
    the run under ``CI=true`` and skips the test elsewhere."""
    configured = os.environ.get("WAYLINE_RETAIL_DATA")
    path = (
        Path(configured) if configured else ROOT.parent / "shared" / "data" / "online-retail.csv.gz"
    )
    if not path.is_file():
        reason = f"the Online Retail data is not at {path} (set WAYLINE_RETAIL_DATA)"
        if in_ci():
            pytest.fail(f"{reason} and CI=true")
        pytest.skip(reason)
    return path


#: The test files that take longest (a minute or more each), started first: the two test
#: processes take whole files, and one of these started last would leave the other idle.
SLOWEST_FILES = (
    "tests/docs/test_docs.py",
    "tests/browser/test_segment.py",
    "tests/browser/test_rudderstack.py",
    "tests/acceptance/test_demo.py",
    "tests/integration/segments/test_generated_data.py",
    "tests/acceptance/test_journey_crash.py",
    "tests/integration/engine/test_abandoned_cart.py",
    "tests/integration/engine/test_simulate.py",
    "tests/integration/engine/test_simulate_traits.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    first = {path: rank for rank, path in enumerate(SLOWEST_FILES)}
    # a stable sort: every other test keeps its place
    items.sort(key=lambda item: first.get(item.nodeid.split("::")[0], len(first)))


def _migrations_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(MIGRATIONS.rglob("*.py")):
        h.update(path.read_bytes())
    for path in sorted((MIGRATIONS.parent).glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _pg_url(database: str) -> str:
    return (
        sa.make_url(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        .set(database=database)
        .render_as_string(hide_password=False)
    )


class PgTemplates:
    """Creates the migrated template once, then a fresh clone per test."""

    def __init__(self) -> None:
        self.admin = sa.create_engine(
            _pg_url(sa.make_url(PG_ADMIN_URL).database or "postgres"),
            isolation_level="AUTOCOMMIT",
            poolclass=sa.NullPool,
        )
        self.template = f"wayline_tpl_{_migrations_digest()}"
        with self.admin.connect() as conn:
            exists = conn.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": self.template}
            )
            if not exists:
                building = f"{self.template}_{uuid.uuid4().hex[:6]}"
                conn.exec_driver_sql(f'CREATE DATABASE "{building}"')
                store = open_store(Settings(database_url=_pg_url(building)))
                store.migrate()
                store.close()
                try:
                    conn.exec_driver_sql(f'ALTER DATABASE "{building}" RENAME TO "{self.template}"')
                except sa.exc.DBAPIError:  # another run built it meanwhile
                    conn.exec_driver_sql(f'DROP DATABASE "{building}"')

    def clone(self) -> str:
        name = f"wayline_t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_templates() -> PgTemplates:
    try:
        return PgTemplates()
    except sa.exc.OperationalError as exc:
        if in_ci():
            pytest.fail(f"PostgreSQL is unreachable at {PG_ADMIN_URL} and CI=true: {exc}")
        pytest.skip(f"PostgreSQL is unreachable at {PG_ADMIN_URL}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "wayline.db"
    store = open_store(Settings(database_url=f"sqlite:///{path}"))
    store.migrate()
    store.close()
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, migrated, empty database of each backend."""
    if request.param == "sqlite":
        target = tmp_path / "wayline.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    templates: PgTemplates = request.getfixturevalue("pg_templates")
    name = templates.clone()
    try:
        yield _pg_url(name)
    finally:
        templates.drop(name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url)


@pytest.fixture
def store(settings: Settings, clock: ManualClock) -> Iterator[Store]:
    s = open_store(settings, clock)
    yield s
    s.close()


@pytest.fixture(params=("duckdb", "postgresql"))
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """A fresh analytics warehouse of each kind: a DuckDB file, a PostgreSQL database."""
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
        w = open_warehouse(Settings(data_dir=tmp_path, warehouse_url=url))
        yield w
        w.close()
        return
    templates: PgTemplates = request.getfixturevalue("pg_templates")
    name = templates.clone()
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    w = open_warehouse(Settings(data_dir=tmp_path, warehouse_url=url))
    try:
        yield w
    finally:
        w.close()
        templates.drop(name)
