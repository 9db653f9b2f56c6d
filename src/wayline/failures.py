"""What a consumer's failure says: its text for a dead letter, and whether it was the
database going away rather than the row."""

from __future__ import annotations

import traceback

#: How much of a traceback a dead letter keeps (its tail: where it failed).
TRACEBACK_TAIL = 2000


def describe(exc: BaseException) -> str:
    """The error's first line, then the tail of its traceback."""
    first = (traceback.format_exception_only(exc)[-1] if exc else "").strip()
    first = first.splitlines()[0] if first else type(exc).__name__
    trace = "".join(traceback.format_exception(exc)).rstrip()
    return f"{first}\n{trace[-TRACEBACK_TAIL:]}"


def is_outage(exc: BaseException) -> bool:
    """Whether the failure is the database (or the network to it) rather than the row:
    such a failure never counts against a row, so an outage parks nothing."""
    import sqlalchemy.exc  # not at import: the CLI's light commands load no SQLAlchemy

    return isinstance(
        exc,
        sqlalchemy.exc.OperationalError
        | sqlalchemy.exc.InterfaceError
        | sqlalchemy.exc.DisconnectionError
        | ConnectionError
        | TimeoutError,
    ) or bool(getattr(exc, "connection_invalidated", False))
