"""Filter checks (``eq``, ``gt``, ``in``…) on a JSON value, as Ibis boolean expressions.

The rules are those of :mod:`wayline.journeys.filters`, without type coercion: ``"12"`` is
not ``12``, ``true`` is not ``1``, ordering compares numbers with numbers and text with
text. So every test asks the JSON type of the value (:meth:`Warehouse.json_kind`) as well
as its text. Numbers are compared as doubles (as Python compares an int with a float);
text is compared in the database's order, which is code point order in DuckDB and in
PostgreSQL databases with the ``C`` or ``C.UTF-8`` collation (the default of Wayline's
images).

What SQL does not say the same way is decided by Python, on the distinct values only
(:func:`by_python`): operands that are lists or objects, ``contains``, paths through list
indexes (``items.0``) or deeper than three keys. The distinct JSON texts of the value are
read from the warehouse, each is tested with the filter's own code, and the expression
becomes "the value is one of those that passed".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import ibis
import orjson
import pyarrow as pa

from wayline.analytics.warehouse import Warehouse
from wayline.journeys.filters import Check, lookup

#: Above this many passing values, "one of them" is a semi-join, not a literal list.
_LITERAL_LIMIT: Final = 500


class NotPlain(Exception):
    """This test has no exact SQL form here; Python decides it over the distinct values."""


@dataclass(frozen=True, slots=True)
class JsonField:
    """A value inside a JSON column, on the table a test runs on."""

    warehouse: Warehouse
    #: The JSON column, on the table the expression is evaluated over.
    column: Any
    #: The keys from the column down to the value (empty: the column itself).
    path: tuple[str, ...]
    #: The rows the test is asked of, and the same JSON column on them: for reading the
    #: distinct values when Python decides.
    rows: Any
    rows_column: Any

    @property
    def plain(self) -> bool:
        """Whether SQL can reach the value exactly (keys only, and few enough of them)."""
        return 0 < len(self.path) <= 3 and not any(p.isdigit() for p in self.path)

    def kind(self) -> Any:
        return self.warehouse.json_kind(self.column, self.path)

    def is_a(self, kind: str) -> Any:
        """Whether the value is of this JSON type (``string``, ``number``…)."""
        return self.kind().isin(self.warehouse.json_kinds[kind])

    def text(self) -> Any:
        return self.warehouse.json_text(self.column, list(self.path))

    def number(self) -> Any:
        return ibis.ifelse(self.is_a("number"), self.text().cast("float64"), None)


def _present(field: JsonField) -> Any:
    return field.kind().notnull() & ~field.is_a("null")


def _same(field: JsonField, operand: Any) -> Any:
    """Equal without coercion (``filters._same``)."""
    if operand is None:
        return ~_present(field)
    if isinstance(operand, bool):
        return (field.is_a("boolean")) & (field.text() == ("true" if operand else "false"))
    if isinstance(operand, int | float):
        return (field.is_a("number")) & (field.number() == float(operand))
    if isinstance(operand, str):
        return (field.is_a("string")) & (field.text() == operand)
    raise NotPlain


def _ordered(field: JsonField, operand: Any, compare: Callable[[Any, Any], Any]) -> Any:
    if operand is None:
        return ibis.literal(False)
    if isinstance(operand, str):
        return (field.is_a("string")) & compare(field.text(), operand)
    return (field.is_a("number")) & compare(field.number(), float(operand))


def _one_of(field: JsonField, operands: list[Any]) -> Any:
    if not operands:
        return ibis.literal(False)
    found = ibis.literal(False)
    for operand in operands:
        found = found | _same(field, operand).fill_null(False)
    return found


def _exists(field: JsonField, operand: Any) -> Any:
    if operand is None:
        return ibis.literal(False)
    return _present(field) if operand else ~_present(field)


_SQL: Final[dict[str, Callable[[JsonField, Any], Any]]] = {
    "eq": _same,
    "ne": lambda f, o: ~_same(f, o).fill_null(False),
    "gt": lambda f, o: _ordered(f, o, lambda a, b: a > b),
    "gte": lambda f, o: _ordered(f, o, lambda a, b: a >= b),
    "lt": lambda f, o: _ordered(f, o, lambda a, b: a < b),
    "lte": lambda f, o: _ordered(f, o, lambda a, b: a <= b),
    "in": _one_of,
    "not_in": lambda f, o: ~_one_of(f, o).fill_null(False),
    "exists": _exists,
}


def written(check: Check) -> list[tuple[str, Any]]:
    """The operators written in ``check`` with their operands."""
    fields = type(check).model_fields
    return [
        (fields[name].alias or name, getattr(check, name))
        for name in sorted(check.model_fields_set)
    ]


def check_expr(check: Check, field: JsonField) -> Any:
    """Whether the value passes every operator of ``check``: an Ibis boolean, never null."""
    if not field.plain:
        return by_python(field, check.holds)
    try:
        result = ibis.literal(True)
        for op, operand in written(check):
            if op not in _SQL:
                raise NotPlain
            result = result & _SQL[op](field, operand).fill_null(False)
    except NotPlain:
        return by_python(field, check.holds)
    return result


def by_python(field: JsonField, test: Callable[[Any], bool]) -> Any:
    """``test`` applied by Python to each distinct value of the field; the values that
    pass become an Ibis ``isin`` (a missing value is tested as ``None``)."""
    keys = field.path if field.plain or not field.path else field.path[:1]
    rest = ".".join(field.path[len(keys) :])

    def value(raw: str | None) -> Any:
        if raw is None:
            return None
        loaded = orjson.loads(raw)
        return lookup(loaded, rest) if rest else loaded

    raw_rows = field.warehouse.json_raw(field.rows_column, keys)
    distinct = field.warehouse.execute(field.rows.select(v=raw_rows).distinct())
    passing = [r for r in distinct.column("v").to_pylist() if r is not None and test(value(r))]
    raw = field.warehouse.json_raw(field.column, keys)
    if not passing:
        found: Any = ibis.literal(False)
    elif len(passing) <= _LITERAL_LIMIT:
        found = raw.isin(passing).fill_null(False)
    else:
        listed = ibis.memtable(pa.table({"v": pa.array(passing, pa.string())}))
        found = raw.isin(listed.v).fill_null(False)
    if test(None):
        found = found | raw.isnull()
    return found
