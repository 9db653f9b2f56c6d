"""``wayline report funnel``: conversion through steps, and who dropped out where."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from wayline.cli.output import AsCsv, AsJson, emit
from wayline.cli.report import common
from wayline.cli.support import DataDir, WorkspaceOpt, choose_workspace, open_existing, settings_for

if TYPE_CHECKING:
    from pathlib import Path

    from wayline.analytics.funnels import Funnel


def _save_dropped(
    data_dir: Path | None,
    workspace: str | None,
    spec: Funnel,
    step: int,
    segment_id: str,
    name: str | None,
    as_json: bool,
) -> None:
    """Save a step's drop-offs as a new static segment and say how many it holds."""
    from wayline.analytics.eventlog import InvalidAnalysis
    from wayline.analytics.warehouse import open_warehouse
    from wayline.clock import SystemClock
    from wayline.errors import SegmentInvalid
    from wayline.segments.static import save_dropped
    from wayline.store.sql import SqlStore

    settings = settings_for(data_dir)
    store = open_existing(settings, migrate=True)
    try:
        assert isinstance(store, SqlStore)
        target = choose_workspace(store, workspace)
        warehouse = open_warehouse(settings)
        try:
            saved = save_dropped(
                store, SystemClock(), warehouse, target.id, spec, step, segment_id, name
            )
        except SegmentInvalid as exc:
            first = exc.problems[0]
            field = "save-segment" if first.path in ("", "id") else first.path
            raise InvalidAnalysis(field, first.message) from None
        finally:
            warehouse.close()
    finally:
        store.close()
    out = {
        "segment_id": saved.segment_id,
        "name": saved.name,
        "dropped": saved.dropped,
        "size": saved.size,
    }
    if as_json:
        sys.stdout.write(json.dumps(out) + "\n")
        return
    typer.echo(
        f"{saved.segment_id}: static segment with {saved.size} members "
        f"({saved.dropped} customers dropped before step {step})"
    )


def funnel_command(
    step: Annotated[list[str], typer.Option("--step", help="A step's event (repeat, in order)")],
    workspace: WorkspaceOpt = None,
    mode: Annotated[str, typer.Option(help="ordered, strict or any_order")] = "ordered",
    window: Annotated[str, typer.Option(help="Conversion window from the first step")] = "14d",
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="EVENT, or EVENT:FROM-TO between those steps"),
    ] = None,
    breakdown: Annotated[
        str | None,
        typer.Option(
            help="properties.NAME, context.NAME, traits.NAME, channel, or segment "
            "(every segment) / segment:ID,ID (members now)"
        ),
    ] = None,
    channel: Annotated[
        list[str] | None,
        typer.Option(help="Where --breakdown channel reads the channel (repeat; first wins)"),
    ] = None,
    dropped: Annotated[
        int | None,
        typer.Option(help="List the customers who dropped before this step instead"),
    ] = None,
    save_segment: Annotated[
        str | None,
        typer.Option(
            "--save-segment",
            help="With --dropped: save those customers as a new static segment with this id",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="With --save-segment: the segment's name", show_default=False),
    ] = None,
    times: Annotated[bool, typer.Option("--times", help="Show the time histogram")] = False,
    limit: common.LimitOption = None,
    start: common.FromOption = None,
    end: common.ToOption = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """Conversion through ordered, strict or any-order steps."""
    from wayline.analytics import params
    from wayline.analytics.eventlog import DEFAULT_CHANNEL_PATHS, InvalidAnalysis
    from wayline.analytics.funnels import (
        Funnel,
        FunnelMode,
        dropped_customers,
        dropped_customers_expr,
        funnel_report,
    )

    if mode not in {m.value for m in FunnelMode}:
        raise InvalidAnalysis("mode", f"{mode!r}: expected ordered, strict or any_order")
    spec = Funnel(
        steps=tuple(step),
        mode=FunnelMode(mode),
        window=params.duration(window, "window"),
        exclusions=tuple(params.exclusion(x) for x in exclude or ()),
        breakdown=breakdown,
        channel_paths=tuple(channel) if channel else DEFAULT_CHANNEL_PATHS,
        start=params.moment(start, "from"),
        end=params.moment(end, "to"),
    )
    spec.check()
    if save_segment is not None or name is not None:
        if dropped is None:
            raise InvalidAnalysis("save-segment", "say which step's drop-offs with --dropped")
        if save_segment is None:
            raise InvalidAnalysis("name", "--name goes with --save-segment")
        _save_dropped(data_dir, workspace, spec, dropped, save_segment, name, as_json)
        return
    members = common.members(data_dir, workspace, spec.segments)
    if dropped is not None:
        at_step = dropped
        if as_json or as_csv:
            common.stream(
                data_dir,
                workspace,
                lambda w, ws: common.limited(
                    dropped_customers_expr(w, ws, spec, at_step, members), limit
                ),
                as_json,
            )
            return
        frame = common.run(
            data_dir,
            workspace,
            lambda w, ws: dropped_customers(
                w, ws, spec, at_step, limit=limit or 1000, members=members
            ),
        )
        emit(frame, title=f"Dropped before step {dropped}", as_json=as_json, as_csv=as_csv)
        return
    report = common.run(data_dir, workspace, lambda w, ws: funnel_report(w, ws, spec, members))
    if times:
        emit(report.times, title="Time from the previous step", as_json=as_json, as_csv=as_csv)
    else:
        emit(report.steps, title=f"Funnel: {' → '.join(step)}", as_json=as_json, as_csv=as_csv)
