"""``wayline journeys``: check journey files and print their JSON Schema.

Output is plain text, one problem per line as ``file:line:col: message``, the form editors
and CI annotate; never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from wayline.errors import JourneyInvalid

journeys_app = typer.Typer(
    no_args_is_help=True, help="Journeys as code: check files, print the schema."
)


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
