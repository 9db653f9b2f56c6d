"""``wayline deadletters``: inbox rows a consumer could not process, set aside with their
error so that the rows after them flow on. Fix the cause, then retry them: each consumer
takes its retried rows at its next step (a running ``wayline serve``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from wayline.cli.support import (
    AsJson,
    DataDir,
    WorkspaceOpt,
    choose_workspace,
    open_existing,
    settings_for,
)
from wayline.errors import WaylineError

if TYPE_CHECKING:
    from wayline.store.dead_letters import DeadLetterStore

T = TypeVar("T")

deadletters_app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="Dead letters: inbox rows a consumer could not process; list, retry or drop them.",
)

LetterId = Annotated[int | None, typer.Argument(help="The dead letter's id", show_default=False)]
All = Annotated[bool, typer.Option("--all", help="Every dead letter of the workspace")]
ConsumerOpt = Annotated[
    str | None,
    typer.Option(
        "--consumer", help="profiles, loader, segments, stages or triggers", show_default=False
    ),
]
AsCsv = Annotated[bool, typer.Option("--csv", help="Print CSV only")]

COLUMNS = ("id", "consumer", "seq", "message_id", "attempts", "state", "updated_at", "error")


def _with_letters(
    data_dir: DataDir, workspace: WorkspaceOpt, work: Callable[[DeadLetterStore, str], T]
) -> tuple[str, T]:
    """Run ``work`` on the workspace's dead letters; a problem is one line and status 1."""
    from wayline.store.dead_letters import DeadLetterStore
    from wayline.store.sql import SqlStore

    try:
        store = open_existing(settings_for(data_dir))
        try:
            target = choose_workspace(store, workspace)
            assert isinstance(store, SqlStore)
            return target.name, work(DeadLetterStore(store), target.id)
        finally:
            store.close()
    except WaylineError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None


def _chosen(letter_id: int | None, every: bool) -> list[int] | None:
    """The ids named: one, or None for ``--all``."""
    if (letter_id is None) == (not every):
        typer.echo("error: give a dead letter's ID or --all", err=True)
        raise SystemExit(1)
    if every or letter_id is None:
        return None
    return [letter_id]


@deadletters_app.command("list")
def list_letters(
    workspace: WorkspaceOpt = None,
    consumer: ConsumerOpt = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """Print the workspace's dead letters, oldest first: consumer, row, attempts, error."""
    from wayline.cli.output import BadOption, print_listing

    name, letters = _with_letters(
        data_dir, workspace, lambda s, ws: s.listing(workspace_id=ws, consumer=consumer)
    )
    rows = [letter.as_dict() for letter in letters]
    if not rows and not (as_json or as_csv):
        typer.echo(f"{name}: no dead letters")
        return
    try:
        print_listing(
            COLUMNS,
            rows,
            as_json=as_json,
            as_csv=as_csv,
            line=lambda r: "\t".join(
                [
                    str(r["id"]),
                    r["consumer"],
                    f"seq {r['seq']}",
                    r["message_id"],
                    f"{r['attempts']} attempts",
                    r["state"],
                    r["error"].splitlines()[0] if r["error"] else "",
                ]
            ),
        )
    except BadOption as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None


@deadletters_app.command("retry")
def retry(
    letter_id: LetterId = None,
    every: All = False,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Ask the consumer to try a parked row again (ID, or --all of the workspace); it is
    taken at the consumer's next step, and removed once it goes through."""
    ids = _chosen(letter_id, every)
    name, count = _with_letters(data_dir, workspace, lambda s, ws: s.retry(ids, ws))
    if ids is not None and not count:
        typer.echo(f"error: no parked dead letter {ids[0]} in {name}", err=True)
        raise SystemExit(1)
    typer.echo(f"{name}: {count} dead letter{'s' if count != 1 else ''} to retry")


@deadletters_app.command("drop")
def drop(
    letter_id: LetterId = None,
    every: All = False,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Forget a dead letter (ID, or --all of the workspace): its row stays unprocessed."""
    ids = _chosen(letter_id, every)
    name, count = _with_letters(data_dir, workspace, lambda s, ws: s.drop(ids, ws))
    if ids is not None and not count:
        typer.echo(f"error: no dead letter {ids[0]} in {name}", err=True)
        raise SystemExit(1)
    typer.echo(f"{name}: {count} dead letter{'s' if count != 1 else ''} dropped")
