"""``wayline placements``: check and apply in-app placement files, list them.

Problems print one a line as ``file:line:col: field: message``; never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from wayline.cli.output import AsCsv, AsJson, print_listing
from wayline.cli.support import (
    DataDir,
    WorkspaceOpt,
    choose_workspace,
    open_existing,
    settings_for,
)

if TYPE_CHECKING:
    from wayline.channels.placements import PlacementSpec

placements_app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="In-app placements: where content shows, and their default rules.",
)

Paths = Annotated[list[Path], typer.Argument(help="Placement files, or directories of them")]


def _load_all(paths: list[Path]) -> list[PlacementSpec]:
    from wayline.channels.placements import load_placement, placement_files
    from wayline.channels.templates import TemplateInvalid

    files = placement_files(paths)
    if not files:
        typer.echo("no placement files (.yaml, .yml, .json) found", err=True)
        raise SystemExit(1)
    loaded: list[PlacementSpec] = []
    failed = False
    for path in files:
        try:
            loaded.append(load_placement(path))
        except TemplateInvalid as exc:
            failed = True
            for problem in exc.problems:
                typer.echo(str(problem))
    if failed:
        raise SystemExit(1)
    return loaded


@placements_app.command("validate")
def validate(paths: Paths) -> None:
    """Check placement files: fields, rules, Liquid syntax. Exits 1 on any problem."""
    for spec in _load_all(paths):
        typer.echo(f"{spec.name}: ok ({len(spec.rules)} rules)")


@placements_app.command("apply")
def apply(paths: Paths, workspace: WorkspaceOpt = None, data_dir: DataDir = None) -> None:
    """Create or replace each placement. Every file is checked first: if any is invalid,
    nothing is applied."""
    from wayline.store.content import PlacementStore
    from wayline.store.sql import SqlStore

    loaded = _load_all(paths)
    store = open_existing(settings_for(data_dir), migrate=True)
    try:
        target = choose_workspace(store, workspace)
        assert isinstance(store, SqlStore)
        placements = PlacementStore(store)
        for spec in loaded:
            changed = placements.put(target.id, spec.name, spec.as_spec())
            typer.echo(f"{spec.name}: {'stored' if changed else 'unchanged'}")
    finally:
        store.close()


@placements_app.command("list")
def list_placements(
    workspace: WorkspaceOpt = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """The workspace's placements and how many default rules each has."""
    from wayline.store.content import PlacementStore
    from wayline.store.sql import SqlStore

    store = open_existing(settings_for(data_dir))
    try:
        target = choose_workspace(store, workspace)
        assert isinstance(store, SqlStore)
        rows = [
            {"name": p.name, "rules": len(p.spec.get("rules", []))}
            for p in PlacementStore(store).list(target.id)
        ]
    finally:
        store.close()
    print_listing(
        ["name", "rules"],
        rows,
        as_json=as_json,
        as_csv=as_csv,
        line=lambda r: f"{r['name']}\t{r['rules']} rules",
    )
