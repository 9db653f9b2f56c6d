"""Analytics over the warehouse: written once over Ibis, run on DuckDB or PostgreSQL."""
