from __future__ import annotations

import logging

import orjson

from wayline.logs import JsonFormatter


def test_json_lines_carry_level_logger_message_extra_and_exception() -> None:
    record = logging.LogRecord(
        "wayline.runtime", logging.ERROR, __file__, 1, "step failed (attempt %d)", (3,), None
    )
    record.consumer = "profiles"
    try:
        raise ValueError("bad row")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    out = orjson.loads(line)
    assert out["level"] == "error"
    assert out["logger"] == "wayline.runtime"
    assert out["message"] == "step failed (attempt 3)"
    assert out["consumer"] == "profiles"
    assert "ValueError: bad row" in out["exception"]
    assert out["time"].endswith("+00:00")
