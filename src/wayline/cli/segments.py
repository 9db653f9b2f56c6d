"""``wayline segments``: check and apply segment files, look at sizes and members, audit.

Problems are printed one a line as ``file:line:col: field: message``; never a traceback.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from wayline.errors import ProfileNotFound, SegmentInvalid, SegmentNotFound

if TYPE_CHECKING:
    from wayline.store import Store
    from wayline.store.sql import SqlStore

segments_app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="Segments: audiences kept current as events arrive.",
)


def _sql(store: Store) -> SqlStore:
    from wayline.store.sql import SqlStore

    assert isinstance(store, SqlStore)
    return store


def _print_problems(exc: SegmentInvalid) -> None:
    for problem in exc.problems:
        typer.echo(str(problem))


@segments_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of segment files (for editors: completion and help)."""
    from wayline.segments.schema import segment_json_schema

    typer.echo(json.dumps(segment_json_schema(), indent=2))


@segments_app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Segment files, YAML or JSON")],
) -> None:
    """Check segment files on their own and against each other (references, cycles).

    Exits with status 1 when any file has a problem.
    """
    from wayline.segments.loading import load_segments

    try:
        load_segments(files, stored={})
    except SegmentInvalid as exc:
        _print_problems(exc)
        raise SystemExit(1) from None
    for path in files:
        typer.echo(f"{path}: ok")


@segments_app.command("apply")
def apply(
    files: Annotated[list[Path], typer.Argument(help="Segment files, YAML or JSON")],
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Store segments and bring their members up to date.

    A new segment fills from history before it goes live (without events); an edited one
    is re-evaluated, and customers who enter or leave get Segment Entered / Segment Exited
    events. Every file is checked first, against the workspace's other segments: if any
    is invalid, nothing is applied.
    """
    from wayline.clock import SystemClock
    from wayline.segments.lifecycle import apply_segments
    from wayline.segments.loading import load_segments, read_segment
    from wayline.segments.store import SegmentStore
    from wayline.stages.checks import stage_problems

    store = _sql(open_existing(settings_for(data_dir), migrate=True))
    try:
        target = choose_workspace(store, workspace)
        stored = {r.segment_id: r.segment for r in SegmentStore(store).segments(target.id)}
        try:
            loaded = load_segments(files, stored=stored)
            problems = stage_problems(store, target.id, [read_segment(f) for f in files])
            if problems:
                raise SegmentInvalid(problems)
        except SegmentInvalid as exc:
            _print_problems(exc)
            raise SystemExit(1) from None
        seg = SegmentStore(store)
        for result in apply_segments(store, SystemClock(), target.id, loaded):
            size = seg.size(target.id, result.segment_id)
            typer.echo(
                f"{result.segment_id}: version {result.version} ({result.state}), {size} members"
            )
    finally:
        store.close()


@segments_app.command("list")
def list_segments(
    workspace: WorkspaceOpt = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    data_dir: DataDir = None,
) -> None:
    """The workspace's segments: id, size, version and name."""
    from wayline.segments.store import SegmentStore

    store = _sql(open_existing(settings_for(data_dir)))
    try:
        target = choose_workspace(store, workspace)
        seg = SegmentStore(store)
        rows = [
            {
                "id": r.segment_id,
                "size": seg.size(target.id, r.segment_id),
                "version": r.version,
                "name": r.name,
            }
            for r in seg.segments(target.id)
        ]
    finally:
        store.close()
    print_listing(
        ["id", "size", "version", "name"],
        rows,
        as_json=as_json,
        as_csv=as_csv,
        line=lambda r: f"{r['id']}\t{r['size']}\tv{r['version']}\t{r['name']}",
    )


@segments_app.command("show")
def show(
    segment_id: str,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """A segment as stored, with its size."""
    from wayline.segments.store import SegmentStore

    store = _sql(open_existing(settings_for(data_dir)))
    try:
        target = choose_workspace(store, workspace)
        seg = SegmentStore(store)
        record = seg.record(target.id, segment_id)
        if record is None:
            raise SegmentNotFound(f"no segment {segment_id!r} in workspace {target.name!r}")
        spec = record.segment.model_dump(mode="json", by_alias=True, exclude_none=True)
        out = {
            "id": record.segment_id,
            "name": record.name,
            "version": record.version,
            "size": seg.size(target.id, segment_id),
            "updated_at": record.updated_at.isoformat(),
            "spec": spec,
        }
        if as_json:
            typer.echo(json.dumps(out))
            return
        import yaml

        typer.echo(f"{record.segment_id}: {record.name} (v{record.version}, {out['size']} members)")
        typer.echo(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True).rstrip())
    finally:
        store.close()


@segments_app.command("size")
def size(segment_id: str, workspace: WorkspaceOpt = None, data_dir: DataDir = None) -> None:
    """How many customers are in the segment now."""
    from wayline.segments.store import SegmentStore

    store = _sql(open_existing(settings_for(data_dir)))
    try:
        target = choose_workspace(store, workspace)
        seg = SegmentStore(store)
        if seg.record(target.id, segment_id) is None:
            raise SegmentNotFound(f"no segment {segment_id!r} in workspace {target.name!r}")
        typer.echo(str(seg.size(target.id, segment_id)))
    finally:
        store.close()


@segments_app.command("members")
def members(
    segment_id: str,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many")] = 100,
    after: Annotated[
        str | None, typer.Option(help="Start after this profile id (paging)", show_default=False)
    ] = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """Members, by profile id: profile id, userId and when they entered."""
    from wayline.segments.store import SegmentStore

    store = _sql(open_existing(settings_for(data_dir)))
    try:
        target = choose_workspace(store, workspace)
        seg = SegmentStore(store)
        if seg.record(target.id, segment_id) is None:
            raise SegmentNotFound(f"no segment {segment_id!r} in workspace {target.name!r}")
        rows = seg.members(target.id, segment_id, limit=limit, after=after)
        with store.engine.connect() as conn:
            senders = seg.senders(conn, {p for p, _ in rows})
        found = [
            {
                "profile_id": profile_id,
                "user_id": senders.get(profile_id, (None, None))[0] or "",
                "entered_at": entered_at.isoformat(),
            }
            for profile_id, entered_at in rows
        ]
    finally:
        store.close()
    print_listing(
        ["profile_id", "user_id", "entered_at"],
        found,
        as_json=as_json,
        as_csv=as_csv,
        line=lambda r: f"{r['profile_id']}\t{r['user_id']}\t{r['entered_at']}",
    )


@segments_app.command("why")
def why(
    segment_id: str,
    customer: Annotated[str, typer.Argument(help="userId, anonymousId, email or profile id")],
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Whether a customer is a member, and which conditions hold or fail for them."""
    from wayline.clock import SystemClock
    from wayline.segments.explain import explain_member

    store = _sql(open_existing(settings_for(data_dir)))
    try:
        target = choose_workspace(store, workspace)
        view = store.find_profile(target.id, customer)
        if view is None:
            raise ProfileNotFound(f"no customer {customer!r} in workspace {target.name!r}")
        answer = explain_member(store, target.id, segment_id, view.profile.id, SystemClock().now())
        if answer is None:
            raise SegmentNotFound(f"no segment {segment_id!r} in workspace {target.name!r}")
        typer.echo(json.dumps(answer, indent=2, default=str))
    finally:
        store.close()


@segments_app.command("check")
def check(
    segment_ids: Annotated[
        list[str] | None, typer.Argument(help="Segments to check; default: all", show_default=False)
    ] = None,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
    source: Annotated[
        str, typer.Option(help="Evaluate history from the warehouse (default) or the inbox")
    ] = "warehouse",
) -> None:
    """Compare real-time membership with a batch evaluation of all of history.

    Prints, per segment, the customers only one of the two counts as members. Exits
    with status 1 when they differ. Events the warehouse loader has not loaded yet (or
    the consumers have not reached) show up as differences.
    """
    from wayline.segments.audit import Batch, audit
    from wayline.segments.lifecycle import evaluate_afresh

    if source not in ("warehouse", "inbox"):
        raise typer.BadParameter("warehouse or inbox", param_hint="--source")
    settings = settings_for(data_dir)
    store = _sql(open_existing(settings))
    warehouse = None
    try:
        target = choose_workspace(store, workspace)
        batch: Batch = evaluate_afresh
        if source == "warehouse":
            from wayline.analytics.warehouse import open_warehouse
            from wayline.segments.batch import evaluate_warehouse

            opened = warehouse = open_warehouse(settings)

            def batch(
                s: SqlStore, ws: str, now: datetime, ids: set[str] | None
            ) -> dict[str, set[str]]:
                return evaluate_warehouse(s, opened, ws, now, ids)

        now = datetime.now(UTC)
        report = audit(store, target.id, now, set(segment_ids or []) or None, batch=batch)
        missing = set(segment_ids or []) - {r.segment_id for r in report}
        if missing:
            raise SegmentNotFound(f"no segment {sorted(missing)[0]!r} in workspace {target.name!r}")
        differ = False
        for r in report:
            state = "ok" if r.agree else "DIFFERS"
            typer.echo(
                f"{r.segment_id}: {state}: real-time {r.realtime}, batch {r.batch}, "
                f"only real-time {len(r.only_realtime)}, only batch {len(r.only_batch)}"
            )
            for profile_id in sorted(r.only_realtime)[:20]:
                typer.echo(f"  only in real-time: {profile_id}")
            for profile_id in sorted(r.only_batch)[:20]:
                typer.echo(f"  only in batch: {profile_id}")
            differ = differ or not r.agree
        if differ:
            raise SystemExit(1)
    finally:
        if warehouse is not None:
            warehouse.close()
        store.close()


MembersFile = Annotated[
    Path,
    typer.Option(
        "--file",
        help="A profile id or userId a line (blank lines and lines starting with # are skipped)",
    ),
]


def _change_members(
    segment_id: str, file: Path, workspace: str | None, data_dir: Path | None, *, add: bool
) -> None:
    from wayline.clock import SystemClock
    from wayline.segments.static import change_members, check_static, profiles_of

    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}", param_hint="--file") from None
    wanted = [
        (number, line.strip())
        for number, line in enumerate(lines, start=1)
        if line.strip() and not line.strip().startswith("#")
    ]
    store = _sql(open_existing(settings_for(data_dir), migrate=True))
    try:
        target = choose_workspace(store, workspace)
        check_static(store, target.id, segment_id)
        with store.engine.connect() as conn:
            found = profiles_of(conn, target.id, [key for _, key in wanted], ("profile", "user_id"))
        unknown = [(number, key) for number, key in wanted if key not in found]
        if unknown:
            for number, key in unknown:
                typer.echo(f"{file}:{number}: no customer {key!r} (a profile id or userId)")
            raise SystemExit(1)
        change = change_members(
            store, SystemClock(), target.id, segment_id, found.values(), add=add
        )
        verb, already = ("added", "already members") if add else ("removed", "not members")
        typer.echo(
            f"{segment_id}: {verb} {change.changed}, {change.unchanged} {already}, "
            f"{change.size} members"
        )
    finally:
        store.close()


@segments_app.command("add-members")
def add_members(
    segment_id: str,
    file: MembersFile,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Add customers to a static segment; each new member gets Segment Entered.

    Every line is checked first: if any names no customer, nothing changes (exit 1).
    """
    _change_members(segment_id, file, workspace, data_dir, add=True)


@segments_app.command("remove-members")
def remove_members(
    segment_id: str,
    file: MembersFile,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Remove customers from a static segment; each one removed gets Segment Exited.

    Every line is checked first: if any names no customer, nothing changes (exit 1).
    """
    _change_members(segment_id, file, workspace, data_dir, add=False)
