"""``wayline journeys apply / plan / show``: versions of a journey and the customers inside.

``plan`` prints what ``apply`` with the same arguments would do; ``apply`` prints what it
did in the same terms. With ``--json`` both print the same document (a list, one plan per
file), so a reviewed plan can be compared with the outcome.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from wayline.cli.support import (
    DataDir,
    WorkspaceOpt,
    choose_workspace,
    open_existing,
    settings_for,
)
from wayline.errors import JourneyInvalid, JourneyNotFound

if TYPE_CHECKING:
    from wayline.engine.versions import Plan
    from wayline.journeys.spec import Journey
    from wayline.store import Store
    from wayline.store.sql import SqlStore

Files = Annotated[list[Path], typer.Argument(help="Journey files, YAML or JSON")]
Migrate = Annotated[
    bool,
    typer.Option(
        "--migrate",
        help="Move the customers inside older versions onto the applied one",
    ),
]
Maps = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        metavar="OLD=NEW",
        help="With --migrate: customers at node OLD go to node NEW (repeatable); "
        "needed for every removed node that has customers",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON only")]


def _sql(store: Store) -> SqlStore:
    from wayline.store.sql import SqlStore

    assert isinstance(store, SqlStore)
    return store


def _load(files: list[Path]) -> list[Journey]:
    """Every file checked; any problem is printed on its line, then exit 1."""
    from wayline.journeys.loading import load_journey

    loaded = []
    failed = False
    for path in files:
        try:
            loaded.append(load_journey(path))
        except JourneyInvalid as exc:
            failed = True
            for problem in exc.problems:
                typer.echo(str(problem))
    if failed:
        raise SystemExit(1)
    return loaded


def _mapping(files: list[Path], maps: list[str] | None) -> dict[str, str]:
    from wayline.engine.versions import MappingInvalid, parse_mapping

    if maps and len(files) > 1:
        raise MappingInvalid("--map names the nodes of one journey: give one file with it")
    return parse_mapping(maps or [])


def _header(plan: Plan) -> str:
    from wayline.engine.versions import NEW, UNCHANGED

    if plan.status == NEW:
        return f"{plan.journey_id}: new journey, version {plan.version}"
    if plan.status == UNCHANGED:
        return f"{plan.journey_id}: unchanged, version {plan.version}"
    return f"{plan.journey_id}: new version {plan.version} (latest is version {plan.previous})"


def plan(
    files: Files,
    migrate: Migrate = False,
    maps: Maps = None,
    as_json: Json = False,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Show what apply would do: new version or not, the difference from the latest, the
    customers inside per version and node, and what happens to them."""
    from wayline.engine.compile import spec_of
    from wayline.engine.migration import plan_version
    from wayline.engine.versions import describe_diff, describe_effect, describe_inside

    mapping = _mapping(files, maps)
    loaded = _load(files)
    store = open_existing(settings_for(data_dir))
    try:
        target = choose_workspace(store, workspace)
        plans = [
            plan_version(_sql(store), target.id, j.id, spec_of(j), migrate=migrate, mapping=mapping)
            for j in loaded
        ]
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps([p.to_json() for p in plans], indent=2))
        return
    for p in plans:
        typer.echo(_header(p))
        for line in describe_diff(p) + describe_inside(p):
            typer.echo(line)
        effect = describe_effect(p)
        if migrate and effect:
            typer.echo("  with --migrate:")
            effect = ["  " + line for line in effect]
        for line in effect:
            typer.echo(line)
        if p.refused:
            typer.echo("  apply --migrate refuses this: map every removed node with customers")


def apply_files(
    files: list[Path],
    *,
    migrate: bool,
    maps: list[str] | None,
    as_json: bool,
    workspace: str | None,
    data_dir: Path | None,
) -> None:
    """The ``apply`` command: every file checked and planned first, then each applied in
    its own transaction."""
    from wayline.engine.compile import not_yet_run, spec_of
    from wayline.engine.migration import apply_version, plan_version
    from wayline.engine.versions import UNCHANGED, MigrationRefused, describe_effect

    mapping = _mapping(files, maps)
    loaded = _load(files)
    store = open_existing(settings_for(data_dir), migrate=True)
    try:
        sql = _sql(store)
        target = choose_workspace(store, workspace)
        for j in loaded:  # a refusal for any file stores nothing for all of them
            planned = plan_version(
                sql, target.id, j.id, spec_of(j), migrate=migrate, mapping=mapping
            )
            if planned.refused:
                raise MigrationRefused(planned.refusal_message())
        done = []
        for j in loaded:
            p = apply_version(
                sql,
                target.id,
                j.id,
                j.name or j.id,
                spec_of(j),
                migrate=migrate,
                mapping=mapping,
            )
            done.append(p)
            if not as_json:
                state = "unchanged" if p.status == UNCHANGED else "stored"
                typer.echo(f"{j.id}: version {p.version} ({state})")
                for line in describe_effect(p):
                    typer.echo(line)
            for note in not_yet_run(j):
                typer.echo(f"{j.id}: warning: {note}", err=True)
        if as_json:
            typer.echo(json.dumps([p.to_json() for p in done], indent=2))
    finally:
        store.close()


def show(
    journey_id: str,
    version: Annotated[
        int | None, typer.Option("--version", help="The version whose spec to print")
    ] = None,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """A journey: status, versions with their dates, customers per version and node, and
    the spec (YAML) of the current version or of --version N."""
    import yaml

    from wayline.journeys.spec import Journey
    from wayline.store import journey_versions as jv
    from wayline.store.journeys import JourneyStore

    store = open_existing(settings_for(data_dir))
    try:
        sql = _sql(store)
        target = choose_workspace(store, workspace)
        record = JourneyStore(sql).journey(target.id, journey_id)
        if record is None:
            raise JourneyNotFound(f"no journey {journey_id!r} in workspace {target.name!r}")
        with sql.engine.connect() as conn:
            every = jv.versions(conn, target.id, journey_id)
            inside = jv.occupancy(conn, target.id, journey_id)
    finally:
        store.close()
    shown = record.version if version is None else version
    chosen = next((v for v in every if v.version == shown), None)
    if chosen is None:
        raise JourneyNotFound(
            f"{journey_id} has no version {shown} (versions 1 to {record.version})"
        )
    typer.echo(f"{record.journey_id}: {record.name}")
    typer.echo(f"status: {record.status.value}")
    typer.echo("versions:")
    for v in every:
        mark = "  (current)" if v.version == record.version else ""
        typer.echo(f"  {v.version}  {v.created_at.isoformat(timespec='seconds')}{mark}")
    typer.echo("customers inside:" if inside else "customers inside: none")
    for (v_no, node), n in sorted(inside.items()):
        typer.echo(f"  version {v_no} node {node}: {n}")
    typer.echo(f"spec of version {shown}:")
    data = Journey.model_validate(chosen.spec).to_data()
    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip("\n"))
