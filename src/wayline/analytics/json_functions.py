"""The SQL functions that read text out of JSON on each warehouse backend, for Ibis.

Ibis's own ``unwrap_as`` turns JSON numbers into null on DuckDB and does not compile on
PostgreSQL, so the backends call their native functions. (No ``from __future__ import
annotations`` here: Ibis reads the signatures from the annotations.)
"""

import ibis
import ibis.expr.datatypes as dt


@ibis.udf.scalar.builtin(name="json_extract_string")  # type: ignore[untyped-decorator]
def duckdb_json_extract_string(value: dt.JSON, path: str) -> str:  # type: ignore[empty-body]
    """DuckDB: the value at a JSON path (``$."a"."b"``) as text."""


@ibis.udf.scalar.builtin(name="json_extract_path_text")  # type: ignore[untyped-decorator]
def postgres_json_extract_path_text(value: dt.JSON, key: str) -> str:  # type: ignore[empty-body]
    """PostgreSQL: the value under ``key`` as text."""
