"""Ingestion: request bodies in, durable inbox rows out.

Policy for a batch with invalid items (docs/api.md): the valid items are stored and the
answer is ``200 {"success": true, "rejected": [...]}`` naming each invalid item by index,
field and reason; the rejected items are also kept in the ``rejections`` table, readable at
``GET /api/v1/rejections``. SDKs retry on anything but 200, and a retry could never make an
invalid item valid, so a partial answer is a 200. When no item is valid the answer is 400.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from wayline.clock import Clock
from wayline.errors import InvalidMessage, MessageTooLarge
from wayline.events import EventRow, parse_message
from wayline.settings import Settings
from wayline.store.base import Rejection, Store

_CODES = {
    401: "unauthorized",
    403: "origin_not_allowed",
    413: "payload_too_large",
    415: "unsupported_encoding",
}


class IngestError(Exception):
    """The request as a whole cannot be taken; nothing of it was stored."""

    def __init__(self, status: int, error: str, *, field: str | None = None, **detail: Any) -> None:
        super().__init__(error)
        self.status = status
        # `code` and `message` are what the Segment and RudderStack SDKs read from an error
        self.body: dict[str, Any] = {
            "success": False,
            "error": error,
            "code": _CODES.get(status, "invalid_request"),
            "message": error,
        }
        if field is not None:
            self.body["field"] = field
        self.body.update(detail)


def decode_body(body: bytes, content_encoding: str | None, max_bytes: int) -> Any:
    """Gunzip if asked, enforce the size limit, parse JSON; errors name what is wrong."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        try:
            inflater = zlib.decompressobj(wbits=47 if encoding != "deflate" else 15)
            data = inflater.decompress(body, max_bytes + 1)
            if not inflater.eof and len(data) <= max_bytes:
                raise IngestError(
                    400, f"body claims Content-Encoding {encoding} but is cut short", field="body"
                )
        except zlib.error:
            raise IngestError(
                400, f"body claims Content-Encoding {encoding} but is not", field="body"
            ) from None
        body = data
    elif encoding not in ("", "identity"):
        raise IngestError(415, f"unsupported Content-Encoding {encoding!r}; use gzip", field="body")
    if len(body) > max_bytes:
        raise IngestError(
            413,
            f"request body is over the limit of {max_bytes} bytes",
            field="batch",
            limit=max_bytes,
        )
    if not body.strip():
        raise IngestError(400, "empty body; expected a JSON object", field="body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if isinstance(exc.__cause__, UnicodeDecodeError) or "utf-8" in str(exc).lower():
            raise IngestError(400, "body is not valid UTF-8", field="body") from None
        raise IngestError(400, f"malformed JSON: {exc}", field="body") from None


def _kept(item: Any) -> bytes:
    """What is kept of a rejected item: its JSON, cut at 32 KiB; a note if it cannot be
    written out (nested past what orjson writes)."""
    try:
        return orjson.dumps(item)[:32768]
    except orjson.JSONEncodeError as exc:
        return orjson.dumps({"unreadable": str(exc)})


@dataclass(frozen=True, kw_only=True, slots=True)
class ItemError:
    index: int
    message_id: str | None
    field: str
    error: str
    too_large: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "messageId": self.message_id,
            "field": self.field,
            "error": self.error,
        }


@dataclass(kw_only=True, slots=True)
class IngestResult:
    accepted: int = 0
    #: Of the accepted, how many were new (the rest were retries of stored messageIds).
    stored: int = 0
    rejected: list[ItemError] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        if not self.rejected:
            return {"success": True}
        return {
            "success": True,
            "accepted": self.accepted,
            "rejected": [r.as_json() for r in self.rejected],
        }


class Ingestor:
    """Validates Segment calls and commits them to the store in one transaction."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: Settings,
        *,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        #: Called after events are committed (the server wakes its profile consumer).
        self.on_stored = on_stored or (lambda: None)

    def validate(
        self,
        items: Sequence[Any],
        *,
        call_type: str | None = None,
        sent_at: Any = None,
        source: str = "api",
        positions: Sequence[int] | None = None,
    ) -> tuple[list[EventRow], list[ItemError], list[Rejection]]:
        received_at = self.clock.now()
        rows: list[EventRow] = []
        errors: list[ItemError] = []
        rejections: list[Rejection] = []
        for i, item in enumerate(items):
            try:
                rows.append(
                    parse_message(
                        item,
                        received_at=received_at,
                        call_type=call_type,
                        max_bytes=self.settings.max_event_bytes,
                        sent_at=sent_at,
                    )
                )
            except InvalidMessage as exc:
                position = positions[i] if positions is not None else i
                message_id = item.get("messageId") if isinstance(item, dict) else None
                message_id = message_id if isinstance(message_id, str) else None
                errors.append(
                    ItemError(
                        index=position,
                        message_id=message_id,
                        field=exc.field,
                        error=exc.reason,
                        too_large=isinstance(exc, MessageTooLarge),
                    )
                )
                rejections.append(
                    Rejection(
                        source=source,
                        position=position,
                        message_id=message_id,
                        field=exc.field,
                        error=exc.reason,
                        payload=_kept(item),
                    )
                )
        return rows, errors, rejections

    def single(self, workspace_id: str, call_type: str, body: Any) -> IngestResult:
        """``POST /v1/{call}``: one message; invalid means 4xx and nothing stored."""
        if not isinstance(body, dict):
            raise IngestError(400, "body must be a JSON object", field="body")
        rows, errors, _ = self.validate([body], call_type=call_type)
        if errors:
            err = errors[0]
            status = 413 if err.too_large else 400
            raise IngestError(
                status, err.error, field=err.field or ("body" if err.too_large else None)
            )
        stored = self.store.append_events(workspace_id, rows)
        self.on_stored()
        return IngestResult(accepted=1, stored=stored)

    def batch(self, workspace_id: str, body: Any) -> IngestResult:
        """``POST /v1/batch``: valid items land, invalid ones are named (see module doc)."""
        if not isinstance(body, dict):
            raise IngestError(400, "body must be a JSON object with a 'batch' list", field="body")
        items = body.get("batch")
        if not isinstance(items, list):
            raise IngestError(400, "'batch' must be a list of messages", field="batch")
        if not items:
            return IngestResult()
        rows, errors, rejections = self.validate(items, sent_at=body.get("sentAt"))
        if not rows:
            first = errors[0]
            raise IngestError(
                400,
                f"no valid message in the batch; item {first.index}: "
                f"{first.field + ': ' if first.field else ''}{first.error}",
                field=f"batch[{first.index}].{first.field}"
                if first.field
                else f"batch[{first.index}]",
                rejected=[e.as_json() for e in errors[:100]],
            )
        stored = self.store.append_events(workspace_id, rows, rejections)
        self.on_stored()
        return IngestResult(accepted=len(rows), stored=stored, rejected=errors)
