"""``wayline stages``: set the workspace's stage model, see how many customers are in each
stage, and where one customer is.

Problems are printed on one line (``file:line:col: field: message``); never a traceback.
"""

from __future__ import annotations

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
from wayline.errors import ProfileNotFound

if TYPE_CHECKING:
    from wayline.store import Store
    from wayline.store.sql import SqlStore

stages_app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="Lifecycle stages: the workspace's stage model, kept current as events arrive.",
)


def _sql(store: Store) -> SqlStore:
    from wayline.store.sql import SqlStore

    assert isinstance(store, SqlStore)
    return store


@stages_app.command("apply")
def apply(
    file: Annotated[
        Path | None, typer.Argument(help="The stage model (YAML)", show_default=False)
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option("--preset", help="A built-in stage model: ecommerce or saas"),
    ] = None,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Set the workspace's stage model and place every customer by it from history.

    Placing from history sends no Stage Entered events; from then on every change of a
    customer's stage does. Applying the same model again refreshes the typical time in
    each stage (what stall_factor multiplies).
    """
    from wayline.analytics.stage_model import PRESETS, StageModelError, load_stage_model
    from wayline.clock import SystemClock
    from wayline.stages.lifecycle import apply_stage_model

    if (file is None) == (preset is None):
        typer.echo("give a stage model file or --preset, not both nor neither", err=True)
        raise SystemExit(2)
    if preset is not None:
        if preset not in PRESETS:
            typer.echo(f"no preset {preset!r}; choose one of: {', '.join(PRESETS)}", err=True)
            raise SystemExit(2)
        text, source = PRESETS[preset].text, f"<preset {preset}>"
    else:
        assert file is not None
        try:
            text, source = file.read_text(encoding="utf-8"), str(file)
        except OSError as exc:
            typer.echo(f"{file}: {exc.strerror or exc}", err=True)
            raise SystemExit(1) from None
    try:
        load_stage_model(text, source)
    except StageModelError as exc:
        typer.echo(str(exc), err=True)
        raise SystemExit(1) from None
    store = _sql(open_existing(settings_for(data_dir), migrate=True))
    try:
        target = choose_workspace(store, workspace)
        try:
            result = apply_stage_model(store, SystemClock(), target.id, text, source)
        except StageModelError as exc:
            typer.echo(str(exc), err=True)
            raise SystemExit(1) from None
        typer.echo(
            f"stage model version {result.version} ({result.state}), "
            f"{result.placed} customers in a stage"
        )
    finally:
        store.close()


@stages_app.command("show")
def show(workspace: WorkspaceOpt = None, data_dir: DataDir = None) -> None:
    """The workspace's stage model, with how many customers are in each stage now, the
    typical time in it and when a customer there counts as stalled."""
    from wayline.stages.store import StageStore

    store = _sql(open_existing(settings_for(data_dir)))
    try:
        target = choose_workspace(store, workspace)
        stages = StageStore(store)
        stored = stages.model(target.id)
        if stored is None:
            typer.echo("no stage model: set one with `wayline stages apply FILE` or --preset")
            raise SystemExit(1)
        counts = stages.counts(target.id)
        typer.echo(
            f"stage model version {stored.version}, applied {stored.updated_at:%Y-%m-%d %H:%M}"
        )
        for stage in stored.model.stages:
            typical = stored.typical.get(stage.name)
            stall = stored.stall_after(stage.name)
            typer.echo(
                f"{stage.name}: {counts.get(stage.name, 0)} customers, "
                f"typical {_span(typical)}, stalled after "
                f"{_span(None if stall is None else stall.total_seconds())}"
            )
    finally:
        store.close()


@stages_app.command("customer")
def customer(
    customer_id: Annotated[str, typer.Argument(help="A userId, anonymousId or profile id")],
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """A customer's current stage and the stage changes seen as their events arrived."""
    from wayline.stages.store import StageStore

    store = _sql(open_existing(settings_for(data_dir)))
    try:
        target = choose_workspace(store, workspace)
        view = store.find_profile(target.id, customer_id)
        if view is None:
            raise ProfileNotFound(customer_id)
        stages = StageStore(store)
        place = stages.place(target.id, view.profile.id)
        if place is None:
            typer.echo("in no stage")
        else:
            typer.echo(f"{place.stage} since {place.entered_at.isoformat()}")
        for change in stages.history(target.id, view.profile.id):
            was = f" (from {change.previous_stage})" if change.previous_stage else ""
            typer.echo(f"  {change.at.isoformat()}  entered {change.stage}{was}")
    finally:
        store.close()


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
