"""``wayline report``: analytics over the warehouse, printed as a table or as JSON."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from wayline.cli_support import AsJson, DataDir, choose_workspace, open_migrated
from wayline.settings import Settings

report_app = typer.Typer(no_args_is_help=True, help="Reports over the analytics warehouse.")

WorkspaceOption = Annotated[str, typer.Option("--workspace", help="Workspace name or id")]


def _workspace_id(settings: Settings, name: str) -> str:
    store = open_migrated(settings)
    try:
        return choose_workspace(store, name).id
    finally:
        store.close()


@report_app.command("events-per-day")
def events_per_day(
    workspace: WorkspaceOption, as_json: AsJson = False, data_dir: DataDir = None
) -> None:
    """Events per call type per day (UTC), as loaded into the warehouse so far."""
    from wayline.analytics.queries import events_per_day as query
    from wayline.analytics.warehouse import open_warehouse

    settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    workspace_id = _workspace_id(settings, workspace)
    warehouse = open_warehouse(settings)
    try:
        rows = query(warehouse, workspace_id).to_pylist()
    finally:
        warehouse.close()
    if as_json:
        out = [{**r, "day": r["day"].isoformat()} for r in rows]
        sys.stdout.write(json.dumps(out) + "\n")
        return
    table = Table("day", "type", "events", title=f"Events per day: {workspace}")
    table.columns[2].justify = "right"
    for r in rows:
        table.add_row(r["day"].isoformat(), r["type"], f"{r['events']:,}")
    Console().print(table)
