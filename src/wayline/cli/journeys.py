"""``wayline journeys``: check journey files and print their JSON Schema.

Output is plain text, one problem per line as ``file:line:col: message``, the form editors
and CI annotate; never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from wayline.cli import journey_versions as versions_cli
from wayline.cli.journey_versions import Files, Json, Maps, Migrate, apply_files
from wayline.cli.output import AsCsv, AsJson, print_listing
from wayline.cli.simulate import simulate
from wayline.cli.support import (
    DataDir,
    WorkspaceOpt,
    choose_workspace,
    open_existing,
    settings_for,
)
from wayline.errors import JourneyInvalid, JourneyNotFound, ProfileNotFound

if TYPE_CHECKING:
    from wayline.store import Store
    from wayline.store.journeys import JourneyStore

journeys_app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="Journeys as code: check, plan and apply files, show, pause and resume, trace a customer.",
)
journeys_app.command("simulate")(simulate)


@journeys_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of journey files (for editors: completion and help)."""
    from wayline.journeys.schema import journey_json_schema

    typer.echo(json.dumps(journey_json_schema(), indent=2))


@journeys_app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Journey files, YAML or JSON")],
) -> None:
    """Check journey files: print "ok" for each valid one, else each problem on its line.

    Exits with status 1 when any file has a problem.
    """
    from wayline.journeys.loading import load_journey

    failed = False
    for path in files:
        try:
            load_journey(path)
        except JourneyInvalid as exc:
            failed = True
            for problem in exc.problems:
                typer.echo(str(problem))
        else:
            typer.echo(f"{path}: ok")
    if failed:
        # SystemExit, not typer.Exit: ``wayline.cli.main`` runs the app with
        # standalone_mode=False, where click returns typer.Exit's code instead of exiting.
        raise SystemExit(1)


def _journey_store(store: Store) -> JourneyStore:
    from wayline.store.journeys import JourneyStore
    from wayline.store.sql import SqlStore

    assert isinstance(store, SqlStore)
    return JourneyStore(store)


@journeys_app.command("apply")
def apply(
    files: Files,
    migrate: Migrate = False,
    maps: Maps = None,
    as_json: Json = False,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Store each journey as a new version when it changed; new customers enter it.

    Customers already inside stay on the version they entered, unless --migrate moves
    them (see "journeys plan"). Every file is checked first: if any is invalid, or a
    migration would leave customers at a removed node, nothing is applied.
    """
    apply_files(
        files,
        migrate=migrate,
        maps=maps,
        as_json=as_json,
        workspace=workspace,
        data_dir=data_dir,
    )


journeys_app.command("plan")(versions_cli.plan)
journeys_app.command("show")(versions_cli.show)


@journeys_app.command("list")
def list_journeys(
    workspace: WorkspaceOpt = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """The workspace's journeys: status and current version."""
    store = open_existing(settings_for(data_dir))
    try:
        target = choose_workspace(store, workspace)
        rows = [
            {"id": j.journey_id, "status": j.status.value, "version": j.version, "name": j.name}
            for j in _journey_store(store).journeys(target.id)
        ]
    finally:
        store.close()
    print_listing(
        ["id", "status", "version", "name"],
        rows,
        as_json=as_json,
        as_csv=as_csv,
        line=lambda r: f"{r['id']}\t{r['status']}\tv{r['version']}\t{r['name']}",
    )


def _set_status(journey_id: str, status: str, workspace: str | None, data_dir: Path | None) -> None:
    from wayline.store.journeys import JourneyStatus

    store = open_existing(settings_for(data_dir), migrate=True)
    try:
        target = choose_workspace(store, workspace)
        if not _journey_store(store).set_status(target.id, journey_id, JourneyStatus(status)):
            raise JourneyNotFound(f"no journey {journey_id!r} in workspace {target.name!r}")
        typer.echo(f"{journey_id}: {status}")
    finally:
        store.close()


@journeys_app.command("pause")
def pause(journey_id: str, workspace: WorkspaceOpt = None, data_dir: DataDir = None) -> None:
    """Nobody new enters; customers inside wait where they are."""
    _set_status(journey_id, "paused", workspace, data_dir)


@journeys_app.command("resume")
def resume(journey_id: str, workspace: WorkspaceOpt = None, data_dir: DataDir = None) -> None:
    """Customers enter again."""
    _set_status(journey_id, "active", workspace, data_dir)


@journeys_app.command("archive")
def archive(journey_id: str, workspace: WorkspaceOpt = None, data_dir: DataDir = None) -> None:
    """Nobody enters any more."""
    _set_status(journey_id, "archived", workspace, data_dir)


@journeys_app.command("trace")
def trace(
    journey_id: str,
    customer: Annotated[str, typer.Argument(help="userId, anonymousId, email or profile id")],
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Every step a customer took in a journey, with the time and the reason."""
    store = open_existing(settings_for(data_dir))
    try:
        target = choose_workspace(store, workspace)
        view = store.find_profile(target.id, customer)
        if view is None:
            raise ProfileNotFound(f"no customer {customer!r} in workspace {target.name!r}")
        steps = _journey_store(store).steps(target.id, journey_id, view.profile.id)
        if not steps:
            typer.echo(f"{customer} has not entered {journey_id}")
        for s in steps:
            typer.echo(
                f"{s.at.isoformat()}  #{s.instance_id}  {s.node:<20} {s.kind:<10} {s.reason}"
            )
    finally:
        store.close()
