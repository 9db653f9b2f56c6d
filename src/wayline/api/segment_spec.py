"""The Segment calls as JSON Schema, for the OpenAPI description of ``/v1/*``.

The routes read their bodies themselves (any ``Content-Type``, gzip, a size limit while
reading), so FastAPI cannot describe them from a model; these schemas say what the Segment
spec says a call holds, so that generated clients, the docs page and schema-driven tests
see the real shape. Validation stays in ``wayline.events``: it is stricter (timestamp
range, nesting depth, sizes) and names the field it refuses.
"""

from __future__ import annotations

from typing import Any

_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}
_ID: dict[str, Any] = {"anyOf": [{"type": "string"}, {"type": "number"}]}
_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}

#: What every call may hold (the Segment spec's common fields).
_COMMON: dict[str, Any] = {
    "userId": _ID,
    "anonymousId": _ID,
    "messageId": {"type": "string"},
    "timestamp": _TIME,
    "originalTimestamp": _TIME,
    "sentAt": _TIME,
    "context": _OBJECT,
    "integrations": _OBJECT,
}

#: Each call's own fields, and which of them it requires.
_CALLS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "track": ({"event": {"type": "string", "minLength": 1}, "properties": _OBJECT}, ["event"]),
    "identify": ({"traits": _OBJECT}, []),
    "page": (
        {"name": {"type": "string"}, "category": {"type": "string"}, "properties": _OBJECT},
        [],
    ),
    "screen": (
        {"name": {"type": "string"}, "category": {"type": "string"}, "properties": _OBJECT},
        [],
    ),
    "group": ({"groupId": _ID, "traits": _OBJECT}, ["groupId"]),
    "alias": ({"previousId": _ID}, ["previousId", "userId"]),
}


def call_schema(call: str, *, in_batch: bool = False) -> dict[str, Any]:
    """One call; in a batch it names its ``type``, and a call needs ``userId`` or
    ``anonymousId`` (alias needs ``userId``)."""
    own, required = _CALLS[call]
    properties = {**_COMMON, **own}
    if in_batch:
        properties["type"] = {"const": call}
        required = [*required, "type"]
    schema: dict[str, Any] = {
        "type": "object",
        "title": call.capitalize() if not in_batch else f"Batch{call.capitalize()}",
        "properties": properties,
        "required": required,
        "additionalProperties": True,
    }
    if "userId" not in required:
        schema["anyOf"] = [{"required": ["userId"]}, {"required": ["anonymousId"]}]
    return schema


def batch_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "title": "Batch",
        "properties": {
            "batch": {
                "type": "array",
                "items": {"oneOf": [call_schema(call, in_batch=True) for call in _CALLS]},
            },
            "context": _OBJECT,
            "integrations": _OBJECT,
            "sentAt": _TIME,
            "writeKey": {"type": "string"},
        },
        "required": ["batch"],
        "additionalProperties": True,
    }


def request_body(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` for a route whose body is ``schema`` as JSON."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }
