"""The ``wayline`` command.

Each command group lives in its own module, imported only when the group is used:
``wayline --help`` reads the groups' one-line help from ``GROUPS`` and loads none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

import typer

# Typer carries its own copy of click: its errors and classes are these, not ``click``'s.
from typer import _click as click
from typer.core import TyperGroup

from wayline.cli import serve as serve_commands
from wayline.errors import WaylineError


@dataclass(frozen=True, kw_only=True)
class Group:
    """A command group: the module and Typer app it lives in, and its one-line help."""

    module: str
    app: str
    help: str


#: Every command group, in the order ``wayline --help`` lists them.
GROUPS: dict[str, Group] = {
    "workspace": Group(
        module="wayline.cli.workspace", app="workspace_app", help="Create and list workspaces."
    ),
    "sample": Group(
        module="wayline.cli.sample", app="sample_app", help="Sample data for trying Wayline out."
    ),
    "import": Group(
        module="wayline.cli.imports",
        app="import_app",
        help="Import events or profiles from CSV, NDJSON or Parquet files (gzip allowed).",
    ),
    "report": Group(
        module="wayline.cli.report",
        app="report_app",
        help="Reports over the analytics warehouse.",
    ),
    "journeys": Group(
        module="wayline.cli.journeys",
        app="journeys_app",
        help="Journeys as code: check, plan and apply files, show, pause and resume, "
        "trace a customer.",
    ),
    "segments": Group(
        module="wayline.cli.segments",
        app="segments_app",
        help="Segments: audiences kept current as events arrive.",
    ),
    "stages": Group(
        module="wayline.cli.stages",
        app="stages_app",
        help="Lifecycle stages: the workspace's stage model, kept current as events arrive.",
    ),
    "controls": Group(
        module="wayline.cli.controls",
        app="controls_app",
        help="Global controls: frequency caps and quiet hours for every journey's messages.",
    ),
    "subscription-groups": Group(
        module="wayline.cli.subscription_groups",
        app="groups_app",
        help="Subscription groups: per channel and topic, opt-in or opt-out, double opt-in.",
    ),
    "templates": Group(
        module="wayline.cli.templates",
        app="templates_app",
        help="Message templates: check and apply files (Liquid, MJML or HTML), preview them.",
    ),
    "placements": Group(
        module="wayline.cli.placements",
        app="placements_app",
        help="In-app placements: where content shows, and their default rules.",
    ),
    "origins": Group(
        module="wayline.cli.origins",
        app="origins_app",
        help="Web origins allowed to send events from the browser (CORS); none listed: any.",
    ),
    "keys": Group(
        module="wayline.cli.keys",
        app="keys_app",
        help="Write keys and admin tokens: list, create, revoke and rotate them.",
    ),
    "deadletters": Group(
        module="wayline.cli.deadletters",
        app="deadletters_app",
        help="Dead letters: inbox rows a consumer could not process; list, retry or drop them.",
    ),
    "secrets": Group(
        module="wayline.cli.secrets",
        app="secrets_app",
        help="The key workspace secrets are encrypted with: make one, rotate to it.",
    ),
    "demo": Group(
        module="wayline.cli.demo",
        app="demo_app",
        help="The demo shop (scripts/demo): read the email its journeys sent.",
    ),
}


def load_group(name: str) -> TyperGroup:
    """The click command of a group, its module imported now."""
    group = GROUPS[name]
    sub: typer.Typer = getattr(import_module(group.module), group.app)
    command = typer.main.get_group(sub)  # a group even when it has one command
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """The root group: loads a command group's module only when that group runs."""

    listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in GROUPS if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in GROUPS:
            return super().get_command(ctx, cmd_name)
        if self.listing:
            # The root's help shows one line per group: no need to import it for that.
            return TyperGroup(name=cmd_name, help=GROUPS[cmd_name].help)
        command = load_group(cmd_name)
        self.commands[cmd_name] = command
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


app = typer.Typer(
    cls=LazyGroup,
    rich_markup_mode=None,
    no_args_is_help=True,
    add_completion=False,
    help="Wayline: customer journey automation.",
)
app.command("migrate")(serve_commands.migrate)
app.command("serve")(serve_commands.serve)


def _fail(message: str, code: int) -> SystemExit:
    typer.echo(f"{typer.style('error:', fg='red')} {message}", err=True)
    return SystemExit(code)


def _one_line(exc: click.exceptions.ClickException) -> str:
    message = exc.format_message().strip().replace("\n", " ")
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.exceptions.UsageError) and ctx is not None:
        message += f" (see: {ctx.command_path} --help)"
    return message


def main(args: list[str] | None = None) -> None:
    """Entry point: errors are one plain line and a non-zero exit, never a traceback."""
    try:
        # Without standalone mode click raises its errors instead of printing them as a box
        # (or as their class name), and hands back an exit code instead of exiting with it.
        code: Any = app(args, prog_name="wayline", standalone_mode=False)
    except WaylineError as exc:
        raise _fail(str(exc), 1) from None
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()  # the group's help, as ``--help`` prints it
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.ClickException as exc:
        raise _fail(_one_line(exc), exc.exit_code) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except (typer.Abort, KeyboardInterrupt):
        raise SystemExit(130) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise _fail(f"{where}{exc.strerror or exc}", 1) from None
    except Exception as exc:  # a fault in Wayline itself: still one line, named
        raise _fail(f"unexpected {type(exc).__name__}: {exc}", 1) from None
    if isinstance(code, int) and code:
        raise SystemExit(code)


__all__ = ["GROUPS", "app", "main"]
