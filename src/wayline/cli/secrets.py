"""``wayline secrets``: the key workspace secrets are encrypted with at rest.

``key`` prints a new key for ``WAYLINE_SECRET_KEY``. ``rotate`` re-encrypts every secret
with the current key; run it after putting a new key in ``WAYLINE_SECRET_KEY`` and the
previous one in ``WAYLINE_SECRET_KEYS_OLD``, then drop the old key. It also encrypts
secrets an earlier version kept in clear.
"""

from __future__ import annotations

import typer

from wayline.cli.support import DataDir, open_existing, settings_for

secrets_app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="The key workspace secrets are encrypted with: make one, rotate to it.",
)


@secrets_app.command("key")
def key() -> None:
    """Print a new secret key (for WAYLINE_SECRET_KEY or a WAYLINE_SECRET_KEY_FILE)."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


@secrets_app.command("rotate")
def rotate(data_dir: DataDir = None) -> None:
    """Re-encrypt every workspace secret with the current key (old keys from
    WAYLINE_SECRET_KEYS_OLD decrypt; secrets kept in clear are encrypted)."""
    from wayline.store.sql import SqlStore

    store = open_existing(settings_for(data_dir))
    try:
        assert isinstance(store, SqlStore)
        done, clear = store.rotate_secrets()
    finally:
        store.close()
    note = f" ({clear} were in clear)" if clear else ""
    typer.echo(f"{done} secret{'s' if done != 1 else ''} encrypted with the current key{note}")
