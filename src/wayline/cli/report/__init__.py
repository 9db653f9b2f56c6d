"""``wayline report``: analytics over the warehouse, as a table, JSON or CSV."""

from __future__ import annotations

import typer

from wayline.cli.report import behaviour, discovery, funnels, outcomes, stages

report_app = typer.Typer(
    rich_markup_mode=None, no_args_is_help=True, help="Reports over the analytics warehouse."
)
report_app.command("events-per-day")(behaviour.events_per_day)
report_app.command("discovered-journey")(discovery.discovered_journey)
report_app.command("variants")(discovery.journey_variants)
report_app.command("conformance")(discovery.conformance_report)
report_app.command("attribution")(outcomes.attribution_report)
report_app.command("experiments")(outcomes.experiments_report)
report_app.command("funnel")(funnels.funnel_command)
report_app.command("paths")(behaviour.paths_command)
report_app.command("retention")(behaviour.retention_command)
report_app.command("stages")(stages.stages_command)
report_app.command("journey-map")(stages.journey_map_command)
