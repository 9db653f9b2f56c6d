"""The acceptance tier: the real ``wayline serve``, on the embedded store and on PostgreSQL.

``server`` is one installation per backend, shared by the tests that only send and read;
``fresh_server`` is a new one for a test that kills or stops the process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.acceptance.harness import WaylineServer
from tests.conftest import BACKENDS, PG_ADMIN_URL, PgTemplates

#: ``wayline serve`` runs every role, as a user's plain ``wayline serve`` does.
ROLES: tuple[str, ...] = ()


def _pg_templates(request: pytest.FixtureRequest) -> PgTemplates:
    try:
        templates: PgTemplates = request.getfixturevalue("pg_templates")
    except pytest.skip.Exception as exc:
        # This tier proves the PostgreSQL deployment too; an absent server is a failure.
        pytest.fail(f"the acceptance tier needs PostgreSQL: {exc}")
    return templates


@contextmanager
def installation(
    request: pytest.FixtureRequest, backend: str, data_dir: Path
) -> Iterator[WaylineServer]:
    """A data dir and, on PostgreSQL, a fresh database; the server is stopped at the end."""
    env: dict[str, str] = {}
    templates: PgTemplates | None = None
    database: str | None = None
    if backend == "postgresql":
        templates = _pg_templates(request)
        database = templates.clone()
        env["WAYLINE_DATABASE_URL"] = (
            sa.make_url(PG_ADMIN_URL).set(database=database).render_as_string(hide_password=False)
        )
    server = WaylineServer(data_dir=data_dir, env=env, roles=ROLES)
    try:
        yield server
    finally:
        server.stop()
        if templates is not None and database is not None:
            templates.drop(database)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def server(
    request: pytest.FixtureRequest, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WaylineServer]:
    """A running server shared by the tests of one backend; each test makes its workspaces."""
    with installation(request, backend, tmp_path_factory.mktemp(f"serve-{backend}")) as s:
        s.start()
        yield s


@pytest.fixture
def fresh_server(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> Iterator[WaylineServer]:
    """An installation of its own, not started yet: for tests that kill or stop it."""
    with installation(request, backend, tmp_path / "data") as s:
        yield s
