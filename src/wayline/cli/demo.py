"""``wayline demo``: the demo shop's inbox, where the email its journeys send arrives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from wayline.cli.output import AsCsv, print_listing
from wayline.cli.support import AsJson, DataDir, settings_for
from wayline.demo.inbox import Inbox

demo_app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="The demo shop (scripts/demo): read the email its journeys sent.",
)
inbox_app = typer.Typer(
    rich_markup_mode=None,
    help="The messages the demo's mail sink received: number, time, recipient, subject.",
)
demo_app.add_typer(inbox_app, name="inbox")


def _inbox(data_dir: Path | None) -> Inbox:
    return Inbox(settings_for(data_dir).data_dir)


@inbox_app.callback(invoke_without_command=True)
def inbox(
    ctx: typer.Context, data_dir: DataDir = None, as_json: AsJson = False, as_csv: AsCsv = False
) -> None:
    """List the received messages, oldest first; `wayline demo inbox show N` reads one."""
    if ctx.invoked_subcommand is not None:
        return
    messages = _inbox(data_dir).messages()
    if not messages and not (as_json or as_csv):
        typer.echo("no messages yet")
        return

    def line(m: dict[str, Any]) -> str:
        when = (m["date"] or "-")[:19].replace("T", " ")
        return f"{m['number']:>5}  {when}  {m['to']}  {m['subject']}"

    print_listing(
        ["number", "date", "to", "from", "subject", "file"],
        [m.as_json() for m in messages],
        as_json=as_json,
        as_csv=as_csv,
        line=line,
    )


@inbox_app.command("show")
def show(
    number: Annotated[int, typer.Argument(help="The message's number in the list")],
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Print one message: its headers, its text, and the links in it."""
    opened = _inbox(data_dir).open(number)
    if as_json:
        typer.echo(json.dumps(opened.as_json()))
        return
    m = opened.received
    typer.echo(f"From:    {m.sender}\nTo:      {m.to}\nSubject: {m.subject}")
    typer.echo(f"Date:    {m.date.isoformat() if m.date else '-'}\n")
    typer.echo(opened.text)
    typer.echo("\nLinks:")
    for n, link in enumerate(opened.links, start=1):
        typer.echo(f"  [{n}] {link}")
    if opened.unsubscribe:
        typer.echo(f"One-click unsubscribe (List-Unsubscribe): {opened.unsubscribe}")
