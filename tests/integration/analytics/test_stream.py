"""Long results come out of either warehouse in Arrow batches, the same rows as at once."""

from __future__ import annotations

from tests.integration.analytics.conftest import WS, at, ev, write
from wayline.analytics.funnels import Funnel, dropped_customers_expr
from wayline.analytics.warehouse import Warehouse


def test_stream_yields_every_row_in_batches(warehouse: Warehouse) -> None:
    write(warehouse, *(ev(f"c{i:03d}", "A", at(i)) for i in range(250)))
    expr = dropped_customers_expr(warehouse, WS, Funnel(steps=("A", "B")), 2)
    batches = list(warehouse.stream(expr, batch_rows=100))
    assert len(batches) >= 3
    streamed = [r["customer"] for b in batches for r in b.to_pylist()]
    assert streamed == [f"c{i:03d}" for i in range(250)]
    # The warehouse is free again for the next query.
    assert warehouse.execute(expr.count().as_table()).num_rows == 1
