"""``POST /api/v1/warehouse/query``: reports of the same data dir, run on the warehouse this
process holds (see :mod:`wayline.analytics.remote`). Not part of the public API: it answers
only the token the process left beside the warehouse file."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from wayline.api.deps import ServicesDep
from wayline.api.responses import JSON

router = APIRouter(prefix="/api/v1/warehouse", tags=["warehouse"], include_in_schema=False)


class Query(BaseModel):
    sql: str
    #: In-memory tables the query reads, by name: base64 of an Arrow IPC stream.
    tables: dict[str, str] = {}


@router.post("/query")
async def query(request: Request, body: Query, services: ServicesDep) -> Any:
    note = services.server_note
    presented = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if note is None or services.warehouse is None or not note.admits(presented or None):
        raise HTTPException(401, "this process serves no local reports to that token")
    from wayline.analytics.remote import (
        ARROW_STREAM,
        NotAQuery,
        decode_table,
        encode_table,
        run_query,
    )
    from wayline.analytics.warehouse_duckdb import DuckDBWarehouse

    try:
        tables = {name: decode_table(base64.b64decode(data)) for name, data in body.tables.items()}
    except (binascii.Error, ValueError, OSError) as exc:
        return JSON({"error": f"tables: {exc}", "field": "tables"}, status_code=400)
    warehouse = services.warehouse.get()
    if not isinstance(warehouse, DuckDBWarehouse):
        raise HTTPException(404, "this process's warehouse is not an embedded one")
    try:
        result = await run_in_threadpool(run_query, warehouse, body.sql, tables)
    except NotAQuery as exc:
        return JSON({"error": str(exc), "field": "sql"}, status_code=400)
    return Response(encode_table(result), media_type=ARROW_STREAM)
