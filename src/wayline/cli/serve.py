"""``wayline serve`` and ``wayline migrate``: run Wayline, bring its store up to date."""

from __future__ import annotations

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


def _loopback(host: str) -> str:
    """The address a local client reaches a server listening on ``host`` at."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _say(banner: str, log_format: str) -> None:
    """The start banner: a log record when the log is JSON, a plain line otherwise."""
    if log_format == "json":
        import logging

        logging.getLogger("wayline.serve").info(banner)
    else:
        typer.echo(banner, err=True)


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
    log_format: Annotated[
        str, typer.Option(help="text, or json: one JSON object per line for log collectors")
    ] = "text",
) -> None:
    """Run Wayline: the API and the background loops, in one process by default."""
    import uvicorn

    from wayline import logs
    from wayline.server import Process

    if log_format not in ("text", "json"):
        raise typer.BadParameter("expected text or json", param_hint="--log-format")
    logs.configure("json" if log_format == "json" else "text", log_level)
    roles = frozenset(role) if role else ALL_ROLES
    process = Process(settings_for(data_dir), roles)
    process.migrate()
    if Role.API in roles:
        # uvicorn stops gracefully on SIGTERM, then raises the signal again for the handler
        # that was there before it. Left at the default, that handler ends the process as
        # "killed by SIGTERM" (status 143), which supervisors report as a failure; a stop
        # that was asked for and carried out is a success.
        signal.signal(signal.SIGTERM, _exit_cleanly)
        # reports of this data dir reach the warehouse this process holds through it
        process.announce(f"http://{_loopback(host)}:{port}")
        _say(
            f"Wayline listening on http://{host}:{port} (roles: {', '.join(sorted(roles))})",
            log_format,
        )
        uvicorn.run(
            process.app(),
            host=host,
            port=port,
            log_level=log_level,
            log_config=None,  # the handlers logs.configure set, in the format asked for
            timeout_graceful_shutdown=30,
            access_log=False,
        )
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    process.runtime.start()
    _say(f"Wayline running roles: {', '.join(sorted(roles))}", log_format)
    stop.wait()
    process.runtime.stop()
    process.store.close()
