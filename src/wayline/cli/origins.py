"""``wayline origins``: the web origins whose pages may send a workspace's events.

With none listed, any origin may send (the write key is public, as with Segment). Once one
is listed, browsers on other origins are refused (``403``); servers and apps, which send
no ``Origin``, are never affected. Running servers see a change within 30 seconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from wayline.cli.support import (
    AsJson,
    DataDir,
    WorkspaceOpt,
    choose_workspace,
    open_existing,
    settings_for,
)
from wayline.errors import WaylineError

if TYPE_CHECKING:
    from wayline.store.origins import OriginsStore

T = TypeVar("T")

origins_app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="Web origins allowed to send events from the browser (CORS); none listed: any.",
)

Origin = Annotated[
    str,
    typer.Argument(
        help="scheme://host[:port], e.g. https://shop.example.com or https://*.example.com"
    ),
]


def _with_origins(
    data_dir: DataDir, workspace: WorkspaceOpt, work: Callable[[OriginsStore, str], T]
) -> tuple[str, T]:
    """Run ``work`` on the workspace's origins; a problem is one line and exit status 1."""
    from wayline.store.origins import OriginsStore
    from wayline.store.sql import SqlStore

    try:
        store = open_existing(settings_for(data_dir))
        try:
            target = choose_workspace(store, workspace)
            assert isinstance(store, SqlStore)
            return target.name, work(OriginsStore(store), target.id)
        finally:
            store.close()
    except WaylineError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None


def _normalised(origin: str) -> str:
    from wayline.origins import InvalidOrigin, normalise_origin

    try:
        return normalise_origin(origin)
    except InvalidOrigin as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None


def _any_note(name: str) -> str:
    return f"{name}: no origins listed: pages on any origin may send events"


@origins_app.command("list")
def list_origins(
    workspace: WorkspaceOpt = None, data_dir: DataDir = None, as_json: AsJson = False
) -> None:
    """Print the workspace's allowed origins, one a line."""
    name, origins = _with_origins(data_dir, workspace, lambda s, ws: s.allowed(ws))
    if as_json:
        typer.echo(json.dumps({"origins": origins, "any_origin": not origins}))
    elif not origins:
        typer.echo(_any_note(name))
    else:
        for origin in origins:
            typer.echo(origin)


@origins_app.command("add")
def add(origin: Origin, workspace: WorkspaceOpt = None, data_dir: DataDir = None) -> None:
    """Allow pages on ORIGIN to send; once one origin is listed, only listed ones may."""
    wanted = _normalised(origin)
    name, added = _with_origins(data_dir, workspace, lambda s, ws: s.add(ws, wanted))
    typer.echo(f"{name}: {wanted} {'added' if added else 'was already allowed'}")


@origins_app.command("remove")
def remove(origin: Origin, workspace: WorkspaceOpt = None, data_dir: DataDir = None) -> None:
    """Stop allowing ORIGIN. Removing the last one lets any origin send again."""
    wanted = _normalised(origin)

    def work(store: OriginsStore, workspace_id: str) -> list[str] | None:
        if not store.remove(workspace_id, wanted):
            return None
        return store.allowed(workspace_id)

    name, left = _with_origins(data_dir, workspace, work)
    if left is None:
        typer.echo(f"error: {wanted} is not among {name}'s origins", err=True)
        raise SystemExit(1)
    typer.echo(f"{name}: {wanted} removed")
    if not left:
        typer.echo(_any_note(name))
