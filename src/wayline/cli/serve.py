"""``wayline serve`` and ``wayline migrate``: run Wayline, bring its store up to date."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from wayline.cli.support import DataDir, open_migrated, settings_for
from wayline.runtime import ALL_ROLES, Role


def migrate(data_dir: DataDir = None) -> None:
    """Bring the store's schema up to date."""
    store = open_migrated(settings_for(data_dir))
    store.close()
    typer.echo("schema up to date")


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def serve(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8088,
    role: Annotated[
        list[Role] | None,
        typer.Option(help="Run only these parts (repeatable); default: all of them"),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning")] = "info",
) -> None:
    """Run Wayline: the API and the background loops, in one process by default."""
    import uvicorn

    from wayline.server import Process

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    roles = frozenset(role) if role else ALL_ROLES
    process = Process(settings_for(data_dir), roles)
    process.migrate()
    if Role.API in roles:
        # uvicorn stops gracefully on SIGTERM, then raises the signal again for the handler
        # that was there before it. Left at the default, that handler ends the process as
        # "killed by SIGTERM" (status 143), which supervisors report as a failure; a stop
        # that was asked for and carried out is a success.
        signal.signal(signal.SIGTERM, _exit_cleanly)
        typer.echo(
            f"Wayline listening on http://{host}:{port} (roles: {', '.join(sorted(roles))})",
            err=True,
        )
        uvicorn.run(
            process.app(),
            host=host,
            port=port,
            log_level=log_level,
            timeout_graceful_shutdown=30,
            access_log=False,
        )
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    process.runtime.start()
    typer.echo(f"Wayline running roles: {', '.join(sorted(roles))}", err=True)
    stop.wait()
    process.runtime.stop()
    process.store.close()
