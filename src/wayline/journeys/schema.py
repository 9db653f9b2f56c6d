"""The JSON Schema of journey files, for editors (completion, help on hover) and CI."""

from __future__ import annotations

import re
from typing import Any

from wayline.journeys.spec import Journey

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def journey_json_schema() -> dict[str, Any]:
    """The JSON Schema of a journey file (as written: ``7d`` and ``{gte: 10}``, not Python).

    It describes the shape of each part; the checks across parts (links, loops, weights)
    are made by ``wayline journeys validate``, which also gives line numbers.
    """
    schema = Journey.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "Wayline journey",
        "description": (
            "A customer journey: how customers enter, the steps they go through, and what "
            "counts as converting. Reference: docs/journeys.md."
        ),
        **{k: _plain(v) for k, v in schema.items() if k not in ("title", "description")},
    }


def _plain(value: Any) -> Any:
    """Descriptions come from docstrings: one paragraph each, with `code` as editors show it."""
    if isinstance(value, dict):
        return {
            k: _reflow(v) if k == "description" and isinstance(v, str) else _plain(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _reflow(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", text.replace("``", "`")).strip()
