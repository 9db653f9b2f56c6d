"""``wayline templates``: check and apply message template files, preview them.

Problems print one a line as ``file:line:col: field: message``; never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wayline.cli.output import AsCsv, print_listing
from wayline.cli.support import (
    AsJson,
    DataDir,
    WorkspaceOpt,
    choose_workspace,
    open_existing,
    settings_for,
)

if TYPE_CHECKING:
    from wayline.channels.templates import TemplateSpec

templates_app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="Message templates: check and apply files (Liquid, MJML or HTML), preview them.",
)

Paths = Annotated[list[Path], typer.Argument(help="Template files, or directories of them")]


def _load_all(paths: list[Path]) -> tuple[list[TemplateSpec], dict[str, Any] | None]:
    from wayline.channels.templates import (
        TemplateInvalid,
        load_template,
        load_variables,
        template_files,
    )

    loaded: list[TemplateSpec] = []
    failed = False
    files, variables_file = template_files(paths)
    if not files and variables_file is None:
        typer.echo("no template files (.yaml, .yml, .json) found", err=True)
        raise SystemExit(1)
    variables: dict[str, Any] | None = None
    if variables_file is not None:
        try:
            variables = load_variables(variables_file)
        except TemplateInvalid as exc:
            failed = True
            for problem in exc.problems:
                typer.echo(str(problem))
    for path in files:
        try:
            loaded.append(load_template(path))
        except TemplateInvalid as exc:
            failed = True
            for problem in exc.problems:
                typer.echo(str(problem))
    if failed:
        raise SystemExit(1)
    return loaded, variables


@templates_app.command("validate")
def validate(paths: Paths) -> None:
    """Check template files: Liquid syntax, required fields. Exits 1 on any problem."""
    loaded, variables = _load_all(paths)
    for spec in loaded:
        typer.echo(f"{spec.name}: ok")
    if variables is not None:
        typer.echo(f"variables: ok ({len(variables)})")


@templates_app.command("apply")
def apply(paths: Paths, workspace: WorkspaceOpt = None, data_dir: DataDir = None) -> None:
    """Store each template as a new version when it changed; sends use the latest. A
    directory's variables.yaml replaces the workspace variables (workspace.NAME).

    Every file is checked first: if any is invalid, nothing is applied.
    """
    from wayline.store.sql import SqlStore
    from wayline.store.templates import TemplateStore, VariableStore

    loaded, variables = _load_all(paths)
    store = open_existing(settings_for(data_dir), migrate=True)
    try:
        target = choose_workspace(store, workspace)
        assert isinstance(store, SqlStore)
        templates = TemplateStore(store)
        for spec in loaded:
            version, created = templates.apply(target.id, spec.name, spec.channel, spec.as_spec())
            typer.echo(f"{spec.name}: version {version} ({'stored' if created else 'unchanged'})")
        if variables is not None:
            VariableStore(store).replace(target.id, variables)
            typer.echo(f"variables: {len(variables)} set")
    finally:
        store.close()


@templates_app.command("list")
def list_templates(
    workspace: WorkspaceOpt = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """The workspace's templates: channel and latest version."""
    from wayline.store.sql import SqlStore
    from wayline.store.templates import TemplateStore

    store = open_existing(settings_for(data_dir))
    try:
        target = choose_workspace(store, workspace)
        assert isinstance(store, SqlStore)
        rows = [
            {"name": t.name, "channel": t.channel, "version": t.version}
            for t in TemplateStore(store).list(target.id)
        ]
    finally:
        store.close()
    print_listing(
        ["name", "channel", "version"],
        rows,
        as_json=as_json,
        as_csv=as_csv,
        line=lambda r: f"{r['name']}\t{r['channel']}\tv{r['version']}",
    )


@templates_app.command("preview")
def preview(
    name: str,
    profile: Annotated[
        str, typer.Option("--profile", help="userId, anonymousId, email or profile id")
    ],
    html: Annotated[bool, typer.Option("--html", help="Print the HTML part too")] = False,
    as_json: AsJson = False,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Render a template for a customer. A variable used without a default that the
    customer lacks is an error naming it (a real send renders it as nothing)."""
    from wayline.channels.preview import preview as render_preview
    from wayline.store.sql import SqlStore

    store = open_existing(settings_for(data_dir))
    try:
        target = choose_workspace(store, workspace)
        assert isinstance(store, SqlStore)
        out = render_preview(store, target.id, name, profile)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    if out["channel"] == "email":
        typer.echo(f"Subject: {out['subject']}")
        if out["preheader"]:
            typer.echo(f"Preheader: {out['preheader']}")
        typer.echo("")
        typer.echo(out["text"].rstrip("\n"))
        if html:
            typer.echo("")
            typer.echo(out["html"])
    elif out["channel"] == "inapp":
        typer.echo(f"Placement: {out['placement']} (priority {out['priority']})")
        if out["expires_at"]:
            typer.echo(f"Expires: {out['expires_at']}")
        if out["content"] is not None:
            typer.echo(json.dumps(out["content"], indent=2, ensure_ascii=False))
        if out["html"] is not None:
            typer.echo(out["html"])
    else:
        typer.echo(out["body"])


@templates_app.command("test")
def send_test_email(
    name: str,
    profile: Annotated[
        str, typer.Option("--profile", help="userId, anonymousId, email or profile id")
    ],
    to: Annotated[str, typer.Option("--to", help="The address to send the test to")],
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Send an email template, rendered for a customer, to an address: subject prefixed
    [Test], links not tracked, nothing recorded. Uses the workspace's email settings."""
    from datetime import timedelta

    from wayline.channels.email import EmailChannel
    from wayline.channels.tracking import Tracker
    from wayline.store.sql import SqlStore

    settings = settings_for(data_dir)
    store = open_existing(settings, migrate=True)
    try:
        target = choose_workspace(store, workspace)
        assert isinstance(store, SqlStore)
        tracker = Tracker(store, settings.public_url, timedelta(days=1))
        channel = EmailChannel(
            store,
            tracker,
            timeout=settings.smtp_timeout_seconds,
            allowed_hosts=settings.webhook_allowed_hosts,
        )
        try:
            out = channel.send_test(target.id, name, profile, to)
        finally:
            channel.close()
    finally:
        store.close()
    typer.echo(f"sent to {out['to']}: {out['subject']}")
