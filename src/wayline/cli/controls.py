"""``wayline controls``: a workspace's frequency caps and quiet hours, from a file.

Problems are printed one per line as ``file:line:col: field: message``; never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from wayline.cli.support import (
    AsJson,
    DataDir,
    WorkspaceOpt,
    choose_workspace,
    open_existing,
    settings_for,
)
from wayline.errors import ControlsInvalid

if TYPE_CHECKING:
    from wayline.journeys.controls import Controls
    from wayline.store import Store
    from wayline.store.controls import ControlsStore

controls_app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="Global controls: frequency caps and quiet hours for every journey's messages.",
)

ControlsFile = Annotated[Path, typer.Argument(help="The controls file, YAML or JSON")]


def _load(path: Path) -> Controls:
    from wayline.journeys.controls import load_controls

    try:
        return load_controls(path)
    except ControlsInvalid as exc:
        for problem in exc.problems:
            typer.echo(str(problem))
        # SystemExit, not typer.Exit: see ``wayline.cli.journeys.validate``.
        raise SystemExit(1) from None


def _controls_store(store: Store) -> ControlsStore:
    from wayline.store.controls import ControlsStore
    from wayline.store.sql import SqlStore

    assert isinstance(store, SqlStore)
    return ControlsStore(store)


@controls_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of controls files (for editors: completion and help)."""
    from wayline.journeys.controls import controls_json_schema

    typer.echo(json.dumps(controls_json_schema(), indent=2))


@controls_app.command("validate")
def validate(path: ControlsFile) -> None:
    """Check a controls file: "ok", or each problem on its line (exit status 1)."""
    _load(path)
    typer.echo(f"{path}: ok")


@controls_app.command("apply")
def apply(path: ControlsFile, workspace: WorkspaceOpt = None, data_dir: DataDir = None) -> None:
    """Replace the workspace's controls with the file's; they apply to the next message.

    Nothing is stored when the file has a problem.
    """
    controls = _load(path)
    store = open_existing(settings_for(data_dir), migrate=True)
    try:
        target = choose_workspace(store, workspace)
        _controls_store(store).put(target.id, controls.to_data())
        typer.echo(
            f"controls applied to {target.name}: {len(controls.frequency_caps)} frequency "
            f"cap(s), {len(controls.quiet_hours)} quiet hours rule(s)"
        )
    finally:
        store.close()


@controls_app.command("show")
def show(workspace: WorkspaceOpt = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Print the workspace's controls, in the form ``apply`` reads."""
    import yaml

    store = open_existing(settings_for(data_dir))
    try:
        target = choose_workspace(store, workspace)
        stored = _controls_store(store).get(target.id)
    finally:
        store.close()
    spec = stored.spec if stored is not None else {"frequency_caps": [], "quiet_hours": []}
    if as_json:
        typer.echo(json.dumps(spec))
        return
    if stored is None:
        typer.echo(f"# {target.name}: no controls applied")
    else:
        typer.echo(f"# {target.name}: applied {stored.updated_at.isoformat(timespec='seconds')}")
    typer.echo(yaml.safe_dump(spec, sort_keys=False, default_flow_style=None).rstrip())
