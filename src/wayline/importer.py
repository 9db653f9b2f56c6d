"""Importing events and profiles from files: ``wayline import events|profiles FILE``.

How a file becomes events (the CLI is in ``cli/imports.py``):

1. The file is read as a stream of ``(line, record)`` (``import_files.py``): CSV, NDJSON or
   Parquet, gzip allowed for the first two. The line is where a user finds the row.
2. Each record becomes a Segment message (``import_mapping.py``): ``--map``, ``--set``,
   unmapped columns into ``properties`` (events) or ``traits`` (profiles); an events row
   is a ``track`` unless it says otherwise, a profiles row is an ``identify`` and needs a
   ``userId``.
3. The messages are validated by :meth:`Ingestor.validate`, the very rules of the API, and
   stored with :meth:`Store.append_events` a chunk at a time (``--batch-size``), each chunk
   in one transaction with its rejected rows. An interrupted import keeps the chunks it
   committed; running it again finishes it.

Reading, mapping and validating run in a thread up to two chunks ahead of the commits
(:func:`read_ahead`), so that they overlap with the database's share of each commit.

Re-importing adds nothing. A row that carries a ``messageId`` keeps it. A row without one
gets ``imp-`` + the BLAKE2b hash of its message (canonical JSON, keys sorted), followed by
``-N`` for the N-th earlier row of the file with the very same message: duplicate lines in
a file are distinct events and both land, while importing the same file again (under any
name, or grown by rows added at its end) maps every row to the id it had the first time.
The hash is of the mapped message, so the same file imported with another ``--map``,
``--set`` or ``--timezone`` is other events. A row without a timestamp happened "now"
(the time of validation), and that time is not part of the hash. The count of earlier
identical rows costs a dict entry (about 100 bytes) per row without a ``messageId``.

Rejected rows are reported with their line, field and reason (and kept in the store's
``rejections`` table, ``source = "import"``, ``position`` = the line).
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

import orjson

from wayline.errors import InvalidMessage
from wayline.events import EventRow
from wayline.import_files import (
    BadRow,
    Format,
    ImportFileError,
    Record,
    Source,
    detect_format,
    open_source,
)
from wayline.import_mapping import ColumnMap
from wayline.ingest import Ingestor
from wayline.store.base import Rejection, Store

T = TypeVar("T")

#: How many rejected rows a report keeps to show; ``on_reject`` sees every one.
REPORT_LIMIT: Final = 100
DEFAULT_BATCH_SIZE: Final = 5000


class MessageIds:
    """Gives a message without a ``messageId`` one derived from its content (module doc)."""

    def __init__(self) -> None:
        self._seen: dict[bytes, int] = {}

    def assign(self, message: dict[str, Any]) -> None:
        if message.get("messageId") is not None:
            return
        message.pop("messageId", None)
        try:
            canonical = orjson.dumps(message, option=orjson.OPT_SORT_KEYS)
        except TypeError as exc:  # orjson.JSONEncodeError
            raise InvalidMessage("", f"cannot be stored as JSON: {exc}") from None
        digest = hashlib.blake2b(canonical, digest_size=16).digest()
        earlier = self._seen.get(digest, 0)
        self._seen[digest] = earlier + 1
        message["messageId"] = f"imp-{digest.hex()}-{earlier}" if earlier else f"imp-{digest.hex()}"


@dataclass(frozen=True, kw_only=True, slots=True)
class RejectedRow:
    line: int
    field: str
    error: str
    #: The row as read from the file (a dict of columns, the cells, or the line's text).
    row: Any

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "error": self.error, "row": self.row}


@dataclass(kw_only=True, slots=True)
class ImportReport:
    path: str
    kind: str
    format: str
    workspace_id: str
    #: Rows read from the file (blank lines are not rows).
    read: int = 0
    #: Valid rows stored for the first time.
    landed: int = 0
    #: Valid rows whose messageId the workspace already held: an earlier import of them.
    present: int = 0
    rejected: int = 0
    #: The first REPORT_LIMIT rejected rows, in line order.
    rejections: list[RejectedRow] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "format": self.format,
            "workspace_id": self.workspace_id,
            "read": self.read,
            "landed": self.landed,
            "already_present": self.present,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 3),
            "rejections": [
                {"line": r.line, "field": r.field, "error": r.error} for r in self.rejections
            ],
        }


class Progress(Protocol):
    def start(self, total: int, unit: str) -> None: ...

    def update(self, position: int, rows: int) -> None: ...


def _chunks(rows: Iterator[tuple[int, Record]], size: int) -> Iterator[list[tuple[int, Record]]]:
    while chunk := list(islice(rows, size)):
        yield chunk


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


_DONE: Final = object()


def read_ahead(items: Iterator[T], *, depth: int) -> Generator[T, None, None]:
    """Produce ``items`` in a thread, up to ``depth`` ahead of the caller, in order.

    The database does its part of a commit without holding the GIL, so reading, mapping and
    validating the next chunk overlaps with storing this one. Errors of the producer are
    raised in the caller; closing the iterator stops the thread.
    """
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:
            put(_Failed(exc))
            return
        put(_DONE)

    thread = threading.Thread(target=produce, name="wayline-import-reader", daemon=True)
    thread.start()
    try:
        while (item := slots.get()) is not _DONE:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


class _Chunk:
    """One chunk on its way to the store: its events, and the rows that failed."""

    def __init__(self, *, read: int, position: int) -> None:
        #: Rows of the file in this chunk, and how far into the file it ends.
        self.read = read
        self.position = position
        self.messages: list[dict[str, Any]] = []
        self.lines: list[int] = []
        self.records: dict[int, Any] = {}
        self.failed: list[RejectedRow] = []
        self.events: list[EventRow] = []
        self.rejections: list[Rejection] = []

    def fail(self, line: int, field: str, error: str, row: Any) -> None:
        self.failed.append(RejectedRow(line=line, field=field, error=error, row=row))

    def validate(self, ingestor: Ingestor) -> None:
        """The API's own validation; afterwards ``failed`` is every rejected row, by line."""
        self.events, errors, self.rejections = ingestor.validate(
            self.messages, source="import", positions=self.lines
        )
        self.rejections.extend(_rejection(r) for r in self.failed)
        self.failed.extend(
            RejectedRow(line=e.index, field=e.field, error=e.error, row=self.records[e.index])
            for e in errors
        )
        self.failed.sort(key=lambda r: r.line)
        self.messages, self.records = [], {}


def _rejection(row: RejectedRow) -> Rejection:
    return Rejection(
        source="import",
        position=row.line,
        message_id=None,
        field=row.field,
        error=row.error,
        payload=orjson.dumps(row.row)[:32768],
    )


def run_import(
    ingestor: Ingestor,
    workspace_id: str,
    path: Path,
    columns: ColumnMap,
    *,
    fmt: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    on_reject: Callable[[RejectedRow], None] | None = None,
) -> ImportReport:
    """Import one file into a workspace; file-level problems raise ImportFileError."""
    if batch_size < 1:
        raise ImportFileError("--batch-size must be at least 1")
    started = time.perf_counter()
    form: Format = detect_format(path, fmt)
    report = ImportReport(path=str(path), kind=columns.kind, format=form, workspace_id=workspace_id)
    with open_source(path, form, batch_size=batch_size) as source:
        if source.columns is not None:
            columns.check_columns(source.columns, path.name)
        if progress is not None:
            progress.start(source.total, source.unit)
        prepared = _prepared(source, ingestor, columns, batch_size)
        try:
            with closing(read_ahead(prepared, depth=2)) as chunks:
                for chunk in chunks:
                    _commit(ingestor.store, workspace_id, chunk, report, on_reject)
                    if progress is not None:
                        progress.update(chunk.position, report.read)
        except ImportFileError as exc:
            if not report.read:
                raise
            raise ImportFileError(
                f"{exc} ({report.landed:,} rows landed before it; "
                "importing the file again is safe and adds only what is missing)"
            ) from None
    report.seconds = time.perf_counter() - started
    return report


def _prepared(
    source: Source, ingestor: Ingestor, columns: ColumnMap, batch_size: int
) -> Iterator[_Chunk]:
    """The file as chunks read, mapped and validated, ready to store."""
    ids = MessageIds()
    cells, ndjson = source.format == "csv", source.format == "ndjson"
    for rows in _chunks(iter(source), batch_size):
        chunk = _Chunk(read=len(rows), position=source.position())
        for line, record in rows:
            if isinstance(record, BadRow):
                chunk.fail(line, "", record.reason, record.raw)
                continue
            try:
                message = columns.message(record, cells=cells, passthrough=ndjson)
                ids.assign(message)
            except InvalidMessage as exc:
                chunk.fail(line, exc.field, exc.reason, record)
                continue
            chunk.messages.append(message)
            chunk.lines.append(line)
            chunk.records[line] = record
        chunk.validate(ingestor)
        yield chunk


def _commit(
    store: Store,
    workspace_id: str,
    chunk: _Chunk,
    report: ImportReport,
    on_reject: Callable[[RejectedRow], None] | None,
) -> None:
    new = store.append_events(workspace_id, chunk.events, chunk.rejections)
    report.read += chunk.read
    report.landed += new
    report.present += len(chunk.events) - new
    report.rejected += len(chunk.failed)
    room = REPORT_LIMIT - len(report.rejections)
    if room > 0:
        report.rejections.extend(chunk.failed[:room])
    if on_reject is not None:
        for row in chunk.failed:
            on_reject(row)
