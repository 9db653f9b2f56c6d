"""``wayline keys``: a workspace's write keys and admin tokens.

A new key's secret is printed once: the store keeps only its hash. A revoked key is
refused by running servers within a second. ``rotate`` makes a new key of the same kind and
revokes the old one, after ``--grace`` if given, so that senders can move over meanwhile.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from wayline.cli.output import AsCsv
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
    from wayline.store import Store
    from wayline.store.base import CredentialInfo, CredentialKind

T = TypeVar("T")

keys_app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="Write keys and admin tokens: list, create, revoke and rotate them.",
)


class Kind(StrEnum):
    WRITE_KEY = "write-key"
    ADMIN_TOKEN = "admin-token"


_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _grace(text: str | None) -> timedelta | None:
    """``90s``, ``30m``, ``24h``, ``7d`` (at most 30 days); ``0`` or none: at once."""
    from wayline.store.base import MAX_GRACE

    if text is None or text.strip() == "0":
        return None
    match = _DURATION.match(text.strip())
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a duration such as 30m, 24h or 7d")
    grace = timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    if grace > MAX_GRACE:
        raise typer.BadParameter(f"{text!r} is longer than the limit of {MAX_GRACE.days}d")
    return grace or None


KeyId = Annotated[str, typer.Argument(help="The key's id (see: wayline keys list)")]
KindOpt = Annotated[Kind, typer.Option("--kind", help="write-key or admin-token")]
Grace = Annotated[
    timedelta | None,
    typer.Option(
        "--grace",
        parser=_grace,
        metavar="DURATION",
        help="Keep accepting the old key this long (30m, 24h, 7d; at most 30d); "
        "default: refused at once",
        show_default=False,
    ),
]

COLUMNS = ("id", "kind", "prefix", "created_at", "revoked_at", "state")


def _with_store(
    data_dir: DataDir, workspace: WorkspaceOpt, work: Callable[[Store, str], T], *, write: bool
) -> tuple[str, T]:
    """Run ``work`` on the workspace's keys; a problem is one line and exit status 1."""
    try:
        store = open_existing(settings_for(data_dir), migrate=write)
        try:
            target = choose_workspace(store, workspace)
            return target.name, work(store, target.id)
        finally:
            store.close()
    except WaylineError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None


def _label(kind: CredentialKind) -> str:
    return kind.value.replace("_", " ")


def _state(info: CredentialInfo, now: datetime) -> str:
    if info.revoked_at is None:
        return "active"
    return "ending" if info.revoked_at > now else "revoked"


def _row(info: CredentialInfo, now: datetime) -> dict[str, Any]:
    return {**info.as_dict(), "state": _state(info, now)}


def _ends(info: CredentialInfo) -> str:
    assert info.revoked_at is not None
    return info.revoked_at.isoformat(timespec="seconds")


@keys_app.command("list")
def list_keys(
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """Print the workspace's keys, revoked ones too: id, kind, prefix, created, state."""
    from wayline.cli.output import BadOption, print_listing

    name, found = _with_store(
        data_dir, workspace, lambda s, ws: s.list_credentials(ws), write=False
    )
    now = datetime.now(UTC)
    rows = [_row(c, now) for c in found]

    def line(r: dict[str, Any]) -> str:
        state = r["state"]
        if state != "active":
            state = f"{state} {r['revoked_at'][:19]}"
        return "\t".join([r["id"], r["kind"], r["prefix"] + "…", r["created_at"][:19], state])

    try:
        print_listing(COLUMNS, rows, as_json=as_json, as_csv=as_csv, line=line)
    except BadOption as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    if not rows and not (as_json or as_csv):
        typer.echo(f"{name}: no keys")


def _print_new(name: str, info: CredentialInfo, secret: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({**info.as_dict(), "secret": secret}))
        return
    typer.echo(f"{name}: new {_label(info.kind)} {info.id}")
    typer.echo(secret)
    typer.echo("Keep it now: it is stored hashed and cannot be shown again.", err=True)


@keys_app.command("create")
def create(
    kind: KindOpt, workspace: WorkspaceOpt = None, data_dir: DataDir = None, as_json: AsJson = False
) -> None:
    """Make a new write key or admin token and print its secret (shown only this once)."""
    from wayline.store.base import CredentialKind

    wanted = CredentialKind(kind.value.replace("-", "_"))
    name, (info, secret) = _with_store(
        data_dir, workspace, lambda s, ws: s.create_credential(ws, wanted), write=True
    )
    _print_new(name, info, secret, as_json)


def _revoked_line(name: str, info: CredentialInfo, grace: timedelta | None) -> str:
    what = f"{name}: {_label(info.kind)} {info.id} ({info.prefix}…)"
    if grace:
        return f"{what} stops working at {_ends(info)}"
    return f"{what} revoked; running servers refuse it within a second"


@keys_app.command("revoke")
def revoke(
    key_id: KeyId, grace: Grace = None, workspace: WorkspaceOpt = None, data_dir: DataDir = None
) -> None:
    """Stop accepting a key, at once or after --grace. The last admin token is kept."""

    def work(store: Store, workspace_id: str) -> CredentialInfo:
        at = datetime.now(UTC) + grace if grace else None
        return store.revoke_credential(workspace_id, key_id, at=at)

    name, revoked = _with_store(data_dir, workspace, work, write=True)
    typer.echo(_revoked_line(name, revoked, grace))


@keys_app.command("rotate")
def rotate(
    key_id: KeyId,
    grace: Grace = None,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Make a new key of the same kind, print it, and revoke the old one (after --grace)."""
    from wayline.errors import CredentialNotFound, CredentialRevoked

    def work(store: Store, workspace_id: str) -> tuple[CredentialInfo, str, CredentialInfo | str]:
        now = datetime.now(UTC)
        found = {c.id: c for c in store.list_credentials(workspace_id)}.get(key_id)
        if found is None:
            raise CredentialNotFound(f"no credential {key_id!r} in this workspace")
        if not found.active(now):
            raise CredentialRevoked(f"credential {key_id!r} is already revoked")
        info, secret = store.create_credential(workspace_id, found.kind)
        try:
            old = store.revoke_credential(workspace_id, key_id, at=now + grace if grace else None)
        except WaylineError as exc:  # revoked meanwhile: the new key stands all the same
            return info, secret, str(exc)
        return info, secret, old

    name, (info, secret, old) = _with_store(data_dir, workspace, work, write=True)
    if as_json and not isinstance(old, str):
        typer.echo(json.dumps({**info.as_dict(), "secret": secret, "replaces": old.as_dict()}))
        return
    _print_new(name, info, secret, as_json)
    if isinstance(old, str):
        typer.echo(f"error: the old key was not revoked: {old}", err=True)
        raise SystemExit(1)
    typer.echo(_revoked_line(name, old, grace))
