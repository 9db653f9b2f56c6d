"""The HTTP API: ingestion (``/v1``, the Segment spec) and administration (``/api/v1``)."""
