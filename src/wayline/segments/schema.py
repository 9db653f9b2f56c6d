"""The JSON Schema of segment files, for editors and CI."""

from __future__ import annotations

from typing import Any

from wayline.journeys.schema import SCHEMA_DIALECT, _plain
from wayline.segments.spec import Segment


def segment_json_schema() -> dict[str, Any]:
    """The JSON Schema of a segment file (as written: ``7d``, ``{trait: x, gt: 1}``).

    References between segments (missing ones, cycles) are checked by
    ``wayline segments validate`` and ``apply``, which also give line numbers.
    """
    schema = Segment.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "Wayline segment",
        "description": (
            "An audience: the condition a customer must meet to be a member, kept current "
            "as events arrive. Reference: docs/segments.md."
        ),
        **{k: _plain(v) for k, v in schema.items() if k not in ("title", "description")},
    }
