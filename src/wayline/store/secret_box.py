"""Workspace secrets encrypted at rest (Fernet: AES-128-CBC with an HMAC-SHA256 tag).

The key comes from ``WAYLINE_SECRET_KEY``, or from the file ``WAYLINE_SECRET_KEY_FILE``
names; when neither is set, from ``secret.key`` in the data dir, generated (mode 0600) the
first time a secret is written or read. Keys that came before go in
``WAYLINE_SECRET_KEYS_OLD`` (comma-separated): they decrypt, only the current key encrypts,
and ``wayline secrets rotate`` re-encrypts every secret with it.

A stored secret reads ``fernet:<token>``. A value without that prefix was stored in clear
by an earlier version: it is read as it is, and the next rotation encrypts it.

The column type :class:`EncryptedText` does the work for every query of the column; it
finds the store's box on the engine's dialect, where :meth:`SqlStore.use_secret_box` put
it, so that no caller has to carry it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.engine import Connection, Dialect

from wayline.errors import ConfigurationError
from wayline.settings import Settings

#: What marks an encrypted value (a clear one from before has no prefix).
PREFIX = "fernet:"
#: The key file generated in the data dir when no key is configured.
KEY_FILE = "secret.key"
#: The attribute of an engine's dialect that holds its store's box.
_DIALECT_ATTRIBUTE = "wayline_secret_box"


class SecretKeyError(ConfigurationError):
    """A workspace secret could not be decrypted: it was encrypted with another key."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "a workspace secret could not be decrypted: it was encrypted with another key"
            " (put that key in WAYLINE_SECRET_KEYS_OLD, then run `wayline secrets rotate`)"
        )


def _fernet(key: str, where: str) -> Fernet:
    try:
        return Fernet(key.strip().encode())
    except (ValueError, TypeError):
        raise ConfigurationError(
            f"{where}: not a secret key (32 url-safe base64 bytes; `wayline secrets key` makes one)"
        ) from None


class SecretBox:
    """Encrypts with the current key, decrypts with it or any old one."""

    def __init__(self, keys: Callable[[], tuple[str, list[str]]]) -> None:
        #: (current key, old keys): read the first time they are needed.
        self._keys = keys
        self._fernet: MultiFernet | None = None
        self._lock = threading.Lock()

    def _multi(self) -> MultiFernet:
        with self._lock:
            if self._fernet is None:
                current, old = self._keys()
                fernets = [_fernet(current, "WAYLINE_SECRET_KEY")]
                fernets += [_fernet(k, "WAYLINE_SECRET_KEYS_OLD") for k in old]
                self._fernet = MultiFernet(fernets)
            return self._fernet

    def encrypt(self, value: str) -> str:
        return PREFIX + self._multi().encrypt(value.encode()).decode()

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # kept in clear before secrets were encrypted
        try:
            return self._multi().decrypt(stored.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            raise SecretKeyError() from None

    def rotate(self, stored: str) -> str:
        """The value encrypted with the current key (a clear one encrypted)."""
        if not stored.startswith(PREFIX):
            return self.encrypt(stored)
        try:
            token = self._multi().rotate(stored.removeprefix(PREFIX).encode())
        except InvalidToken:
            raise SecretKeyError() from None
        return PREFIX + token.decode()


def _unconfigured() -> tuple[str, list[str]]:
    raise ConfigurationError("this store was opened without a secret key")


#: The box of a store opened without settings: it refuses to encrypt or decrypt.
UNCONFIGURED = SecretBox(_unconfigured)


def ephemeral() -> SecretBox:
    """A box with a key of its own that nothing keeps: for a scratch database."""
    key = Fernet.generate_key().decode()
    return SecretBox(lambda: (key, []))


def secret_box(settings: Settings) -> SecretBox:
    """The box the settings describe. Keys that are configured are checked now, so that a
    wrong one stops the process at start; the data dir's key is read or made on first use."""
    old = settings.secret_keys_old.get_secret_value() if settings.secret_keys_old else ""
    olds = [k.strip() for k in old.split(",") if k.strip()]
    for k in olds:
        _fernet(k, "WAYLINE_SECRET_KEYS_OLD")
    given: str | None = None
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        given = settings.secret_key.get_secret_value()
        _fernet(given, "WAYLINE_SECRET_KEY")
    elif settings.secret_key_file is not None:
        path = settings.secret_key_file
        try:
            given = path.read_text().strip()
        except OSError as exc:
            raise ConfigurationError(
                f"WAYLINE_SECRET_KEY_FILE: cannot read {path}: {exc.strerror or exc}"
            ) from None
        _fernet(given, f"WAYLINE_SECRET_KEY_FILE {path}")

    def keys() -> tuple[str, list[str]]:
        if given is not None:
            return given, olds
        return _data_dir_key(settings.data_dir / KEY_FILE), olds

    return SecretBox(keys)


def _data_dir_key(path: Path) -> str:
    """The key in ``path``, made first when there is none (0600; two processes making it
    at once both end up with the one that was linked first)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, Fernet.generate_key() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def install(engine: sa.Engine, box: SecretBox) -> None:
    """Make ``box`` the one :class:`EncryptedText` uses on this engine."""
    setattr(engine.dialect, _DIALECT_ATTRIBUTE, box)


def _box(dialect: Dialect) -> SecretBox:
    box = getattr(dialect, _DIALECT_ATTRIBUTE, UNCONFIGURED)
    assert isinstance(box, SecretBox)
    return box


class EncryptedText(sa.TypeDecorator[str]):
    """Text encrypted on the way in and decrypted on the way out, with the store's key."""

    impl = sa.Text()
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else _box(dialect).encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else _box(dialect).decrypt(value)


def rotate_all(
    write: Callable[[], AbstractContextManager[Connection]], box: SecretBox, *, batch: int = 500
) -> tuple[int, int]:
    """Re-encrypt every workspace secret with the current key, clear ones included;
    returns (rows rewritten, of which were in clear). Each batch commits on its own, and a
    row already under the current key is rewritten all the same (it costs little), so a
    rotation cut off part-way is finished by running it again."""
    from wayline.store import schema

    t = schema.workspace_secrets
    raw = sa.type_coerce(t.c.value, sa.Text())  # the stored text, not decrypted
    done = clear = 0
    after: tuple[str, str] = ("", "")
    while True:
        with write() as conn:
            rows = conn.execute(
                sa.select(t.c.workspace_id, t.c.name, raw.label("stored"))
                .where(sa.tuple_(t.c.workspace_id, t.c.name) > sa.tuple_(*after))
                .order_by(t.c.workspace_id, t.c.name)
                .limit(batch)
            ).all()
            for row in rows:
                conn.execute(
                    sa.update(t)
                    .where(t.c.workspace_id == row.workspace_id, t.c.name == row.name)
                    .values(value=sa.type_coerce(box.rotate(row.stored), sa.Text()))
                )
                clear += not row.stored.startswith(PREFIX)
            done += len(rows)
        if len(rows) < batch:
            return done, clear
        after = (rows[-1].workspace_id, rows[-1].name)
