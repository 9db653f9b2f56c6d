"""What the ``wayline`` commands share: options, settings, the store, the workspace.

Nothing here imports the settings or the store at module level: ``wayline --help`` and the
other light commands start without them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wayline.errors import AmbiguousWorkspace, StoreNotFound, WorkspaceNotFound

if TYPE_CHECKING:
    from wayline.settings import Settings
    from wayline.store import Store
    from wayline.store.base import Workspace

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Where the embedded store and warehouse live [env: WAYLINE_DATA_DIR]",
        show_default=False,
    ),
]
WorkspaceOpt = Annotated[
    str | None,
    typer.Option(
        "--workspace", "-w", help="Name or id; default: the only workspace", show_default=False
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON only")]


def settings_for(data_dir: Path | None, **overrides: Any) -> Settings:
    from wayline.settings import Settings

    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


def open_migrated(settings: Settings) -> Store:
    """The store, created if there is none yet: for the commands that write."""
    from wayline.store import open_store

    store = open_store(settings)
    store.migrate()
    return store


def open_existing(settings: Settings, *, migrate: bool = False) -> Store:
    """The store, which must exist already: only ``workspace create``, ``migrate`` and
    ``serve`` create one. A command that writes into a workspace brings the schema up to
    date (``migrate``); one that only reads leaves it as it is."""
    from wayline.store import open_store

    if not settings.database_url:
        where = settings.data_dir
        if not where.is_dir():
            raise StoreNotFound(
                f"no data directory {str(where)!r}; give --data-dir or set WAYLINE_DATA_DIR"
            )
        if not (where / "wayline.db").is_file():
            raise StoreNotFound(
                f"no Wayline store in {str(where)!r}; "
                "create one with: wayline workspace create NAME"
            )
    if migrate:
        return open_migrated(settings)
    return open_store(settings)


def choose_workspace(store: Store, name_or_id: str | None) -> Workspace:
    """The workspace named, or the only one there is."""
    if name_or_id:
        found = store.workspace(name_or_id)
        if found is None:
            raise WorkspaceNotFound(f"no workspace named {name_or_id!r}")
        return found
    every = store.list_workspaces()
    if len(every) == 1:
        return every[0]
    if not every:
        raise WorkspaceNotFound("no workspace yet; create one with: wayline workspace create NAME")
    names = ", ".join(w.name for w in every)
    raise AmbiguousWorkspace(
        f"there are {len(every)} workspaces ({names}); choose with --workspace"
    )
