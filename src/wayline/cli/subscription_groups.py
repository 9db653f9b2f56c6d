"""``wayline subscription-groups``: a workspace's subscription groups, from a file.

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

if TYPE_CHECKING:
    from wayline.subscription_groups import GroupsFile

groups_app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="Subscription groups: per channel and topic, opt-in or opt-out, double opt-in.",
)

GroupsPath = Annotated[Path, typer.Argument(help="The subscription groups file, YAML or JSON")]


def _load(path: Path) -> GroupsFile:
    from wayline.subscription_groups import SubscriptionGroupsInvalid, load_groups

    try:
        return load_groups(path)
    except SubscriptionGroupsInvalid as exc:
        for problem in exc.problems:
            typer.echo(str(problem))
        # SystemExit, not typer.Exit: see ``wayline.cli.journeys.validate``.
        raise SystemExit(1) from None


@groups_app.command("validate")
def validate(path: GroupsPath) -> None:
    """Check a subscription groups file: "ok", or each problem on its line (exit status 1)."""
    _load(path)
    typer.echo(f"{path}: ok")


@groups_app.command("apply")
def apply(path: GroupsPath, workspace: WorkspaceOpt = None, data_dir: DataDir = None) -> None:
    """Replace the workspace's subscription groups with the file's; the next message is
    checked against them. Nothing is stored when the file has a problem."""
    from wayline.store.sql import SqlStore
    from wayline.subscription_groups import missing_templates, put_groups

    spec = _load(path)
    store = open_existing(settings_for(data_dir), migrate=True)
    try:
        assert isinstance(store, SqlStore)
        target = choose_workspace(store, workspace)
        missing = missing_templates(store, target.id, spec)
        if missing:
            typer.echo(
                f"{path}: confirmation_template: no email template {missing[0]!r} in "
                f"{target.name} (apply the templates first)"
            )
            raise SystemExit(1)
        stored = put_groups(store, target.id, spec)
        typer.echo(f"subscription groups applied to {target.name}: {len(stored)} group(s)")
    finally:
        store.close()


@groups_app.command("show")
def show(workspace: WorkspaceOpt = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Print the workspace's subscription groups, in the form ``apply`` reads."""
    import yaml

    from wayline.store.sql import SqlStore
    from wayline.subscription_groups import groups

    store = open_existing(settings_for(data_dir))
    try:
        assert isinstance(store, SqlStore)
        target = choose_workspace(store, workspace)
        with store.engine.connect() as conn:
            found = [g.to_json() for g in groups(conn, target.id)]
    finally:
        store.close()
    spec = {"subscription_groups": found}
    if as_json:
        typer.echo(json.dumps(spec))
        return
    typer.echo(f"# {target.name}: {len(found)} subscription group(s)")
    typer.echo(yaml.safe_dump(spec, sort_keys=False, default_flow_style=None).rstrip())
