"""JSON responses rendered with orjson: the ingestion answers are on the hot path."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JSON(JSONResponse):
    # A JSONResponse, so that the OpenAPI description gives each answer its model's schema
    # (FastAPI documents any other response class as a plain string).
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
