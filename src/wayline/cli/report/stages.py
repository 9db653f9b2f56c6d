"""``wayline report`` on the stage model: stages, and the journey map."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from wayline.cli.output import AsCsv, AsJson, emit
from wayline.cli.report import common
from wayline.cli.support import DataDir, WorkspaceOpt


def stages_command(
    workspace: WorkspaceOpt = None,
    model: common.ModelOption = None,
    preset: common.PresetOption = None,
    as_of: common.AsOfOption = None,
    customers: Annotated[
        bool, typer.Option("--customers", help="List customers and their stage instead")
    ] = False,
    stalled: Annotated[bool, typer.Option("--stalled", help="Only stalled customers")] = False,
    stage: Annotated[str | None, typer.Option(help="Only customers in this stage")] = None,
    limit: common.LimitOption = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """Per stage: customers who entered, are in it now, moved on, typical time, stalled."""
    from wayline.analytics import params
    from wayline.analytics.stages import current_stages, stage_customers_expr, stage_summary

    stage_model = common.stage_model(data_dir, workspace, model, preset)
    when = params.moment(as_of, "as_of")
    if (customers or stalled or stage) and (as_json or as_csv):
        common.stream(
            data_dir,
            workspace,
            lambda w, ws: common.limited(
                stage_customers_expr(
                    w, ws, stage_model, as_of=when, stage=stage, stalled_only=stalled
                ),
                limit,
            ),
            as_json,
        )
        return
    if customers or stalled or stage:
        frame = common.run(
            data_dir,
            workspace,
            lambda w, ws: current_stages(
                w,
                ws,
                stage_model,
                as_of=when,
                stage=stage,
                stalled_only=stalled,
                limit=limit or 1000,
            ),
        )
        emit(frame, title="Customers by stage", as_json=as_json, as_csv=as_csv)
        return
    frame = common.run(
        data_dir, workspace, lambda w, ws: stage_summary(w, ws, stage_model, as_of=when)
    )
    emit(frame, title="Stages", as_json=as_json, as_csv=as_csv)


def journey_map_command(
    workspace: WorkspaceOpt = None,
    model: common.ModelOption = None,
    preset: common.PresetOption = None,
    as_of: common.AsOfOption = None,
    output_format: Annotated[
        str, typer.Option("--format", help="table, html, png, svg or json")
    ] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file", show_default=False)
    ] = None,
    channel: Annotated[
        list[str] | None,
        typer.Option(help="Where the channel is read from (repeat; first found wins)"),
    ] = None,
    touchpoints: Annotated[int, typer.Option(help="Touchpoints (columns) shown")] = 12,
    min_customers: Annotated[int, typer.Option(help="Customers a cell needs to be flagged")] = 10,
    include_internal: common.IncludeInternal = False,
    data_dir: DataDir = None,
) -> None:
    """Stages by touchpoints with conversion, time, sentiment and pain points."""
    from wayline.analytics import params
    from wayline.analytics.eventlog import DEFAULT_CHANNEL_PATHS, InvalidAnalysis
    from wayline.analytics.journey_map import JourneyMapSpec, PainPointRules, journey_map
    from wayline.analytics.journey_map_render import to_html, to_png, to_svg

    formats = ("table", "html", "png", "svg", "json")
    if output_format not in formats:
        raise InvalidAnalysis("format", f"{output_format!r}: expected {', '.join(formats)}")
    if output_format == "png" and output is None and sys.stdout.isatty():
        raise InvalidAnalysis("output", "a PNG needs --output FILE (or a pipe)")
    spec = JourneyMapSpec(
        model=common.stage_model(data_dir, workspace, model, preset),
        as_of=params.moment(as_of, "as_of"),
        channel_paths=tuple(channel) if channel else DEFAULT_CHANNEL_PATHS,
        touchpoints=touchpoints,
        rules=PainPointRules(min_customers=min_customers),
        include_internal=include_internal,
    )
    spec.check()
    result = common.run(data_dir, workspace, lambda w, ws: journey_map(w, ws, spec))
    title = f"Journey map: {common.workspace_of(data_dir, workspace).name}"
    if output_format == "table":
        frame = result.to_frame()
        emit(frame, title=title, as_json=False, as_csv=False)
        from rich.console import Console

        for p in result.pain_points:
            Console().print(f"[red]{p.kind}[/] {p.message}")
        return
    body: bytes
    if output_format == "json":
        body = (json.dumps(result.to_json()) + "\n").encode()
    elif output_format == "html":
        body = to_html(result, title).encode()
    elif output_format == "svg":
        body = to_svg(result, title).encode()
    else:
        body = to_png(result, title)
    if output is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return
    # Write beside the target, then rename: an interrupted export leaves no half a file.
    partial = output.with_name(output.name + ".partial")
    partial.write_bytes(body)
    partial.replace(output)
