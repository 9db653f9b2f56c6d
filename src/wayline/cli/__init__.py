"""The ``wayline`` command."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from typing import Annotated

import typer
from rich.console import Console

from wayline.cli.controls import controls_app
from wayline.cli.imports import import_app
from wayline.cli.journeys import journeys_app
from wayline.cli.placements import placements_app
from wayline.cli.report.funnels import report_app
from wayline.cli.sample import sample_app
from wayline.cli.segments import segments_app
from wayline.cli.stages import stages_app
from wayline.cli.subscription_groups import groups_app
from wayline.cli.support import DataDir, open_migrated, settings_for
from wayline.cli.templates import templates_app
from wayline.errors import WaylineError
from wayline.runtime import ALL_ROLES, Role

app = typer.Typer(
    rich_markup_mode="markdown",
    no_args_is_help=True,
    add_completion=False,
    help="Wayline: customer journey automation.",
)
workspace_app = typer.Typer(
    rich_markup_mode="markdown", no_args_is_help=True, help="Create and list workspaces."
)
app.add_typer(workspace_app, name="workspace")
app.add_typer(sample_app, name="sample")
app.add_typer(report_app, name="report")
app.add_typer(import_app, name="import")
app.add_typer(journeys_app, name="journeys")
app.add_typer(controls_app, name="controls")
app.add_typer(groups_app, name="subscription-groups")
app.add_typer(templates_app, name="templates")
app.add_typer(placements_app, name="placements")
app.add_typer(segments_app, name="segments")
app.add_typer(stages_app, name="stages")

console = Console()
err = Console(stderr=True, soft_wrap=True)


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Bring the store's schema up to date."""
    store = open_migrated(settings_for(data_dir))
    store.close()
    console.print("[green]schema up to date[/]")


@workspace_app.command("create")
def workspace_create(
    name: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only")] = False,
    timezone: Annotated[str, typer.Option(help="The workspace's time zone")] = "UTC",
    data_dir: DataDir = None,
) -> None:
    """Create a workspace and print its write key and admin token (shown only once)."""
    store = open_migrated(settings_for(data_dir))
    try:
        created = store.create_workspace(name, timezone=timezone)
    finally:
        store.close()
    out = {
        "workspace_id": created.workspace.id,
        "name": name,
        "write_key": created.write_key,
        "admin_token": created.admin_token,
    }
    if as_json:
        sys.stdout.write(json.dumps(out) + "\n")
        return
    console.print(f"workspace [bold]{name}[/] ({created.workspace.id})")
    console.print(f"  write key   {created.write_key}")
    console.print(f"  admin token {created.admin_token}")
    console.print("[yellow]Keep these now: they are stored hashed and cannot be shown again.[/]")


@workspace_app.command("list")
def workspace_list(data_dir: DataDir = None) -> None:
    """List workspaces."""
    store = open_migrated(settings_for(data_dir))
    try:
        for w in store.list_workspaces():
            console.print(f"{w.id}  {w.name}  {w.timezone}")
    finally:
        store.close()


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


@app.command()
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
        err.print(f"Wayline listening on http://{host}:{port} (roles: {', '.join(sorted(roles))})")
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
    err.print(f"Wayline running roles: {', '.join(sorted(roles))}")
    stop.wait()
    process.runtime.stop()
    process.store.close()


def main() -> None:
    """Entry point: errors are one line and a non-zero exit, never a traceback."""
    try:
        # Without standalone mode click hands back an exit code instead of exiting with it.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            raise SystemExit(code)
    except WaylineError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise SystemExit(1) from None
    except (typer.Abort, KeyboardInterrupt):
        raise SystemExit(130) from None
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        if isinstance(exc, click.exceptions.Exit):
            raise SystemExit(exc.exit_code) from None
        err.print(f"[red]error:[/] {type(exc).__name__}: {exc}")
        raise SystemExit(1) from None
