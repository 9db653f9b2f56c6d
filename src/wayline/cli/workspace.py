"""``wayline workspace``: create and list workspaces."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from wayline.cli.output import AsCsv, print_rows
from wayline.cli.support import AsJson, DataDir, open_existing, open_migrated, settings_for

workspace_app = typer.Typer(
    rich_markup_mode=None, no_args_is_help=True, help="Create and list workspaces."
)


@workspace_app.command("create")
def workspace_create(
    name: str,
    as_json: AsJson = False,
    timezone: Annotated[str, typer.Option(help="The workspace's time zone")] = "UTC",
    data_dir: DataDir = None,
) -> None:
    """Create a workspace and print its write key and admin token (shown only once)."""
    from rich.console import Console

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
    console = Console()
    console.print(f"workspace [bold]{name}[/] ({created.workspace.id})")
    console.print(f"  write key   {created.write_key}")
    console.print(f"  admin token {created.admin_token}")
    console.print("[yellow]Keep these now: they are stored hashed and cannot be shown again.[/]")


@workspace_app.command("list")
def workspace_list(
    as_json: AsJson = False, as_csv: AsCsv = False, data_dir: DataDir = None
) -> None:
    """List workspaces: id, name and time zone."""
    store = open_existing(settings_for(data_dir))
    try:
        rows = [
            {"id": w.id, "name": w.name, "timezone": w.timezone} for w in store.list_workspaces()
        ]
    finally:
        store.close()
    print_rows(["id", "name", "timezone"], rows, title="Workspaces", as_json=as_json, as_csv=as_csv)
