"""Reading analysis parameters from text (CLI options, query strings) and writing results.

Shared by ``wayline report`` and the analytics API so that both accept the same spellings
and name the same field when one is wrong.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wayline.analytics.eventlog import InvalidAnalysis
from wayline.analytics.funnels import Exclusion
from wayline.analytics.stage_model import (
    StageModel,
    StageModelError,
    load_stage_model,
    parse_duration,
    preset,
)
from wayline.events import within_event_range

if TYPE_CHECKING:
    import pandas as pd

_EXCLUSION = re.compile(r"^(?P<event>.+?)(?::(?P<after>\d+)-(?P<before>\d+))?$")


def duration(text: str, field: str) -> timedelta:
    """``30m``, ``12h``, ``14d``, ``2w``."""
    try:
        return timedelta(seconds=parse_duration(text))
    except ValueError as exc:
        raise InvalidAnalysis(field, str(exc)) from None


def moment(text: str | None, field: str) -> datetime | None:
    """An ISO 8601 date or time; UTC unless it says otherwise."""
    if text is None or text == "":
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidAnalysis(field, f"{text!r} is not an ISO 8601 date or time") from None
    return within_event_range(value)


def exclusion(text: str) -> Exclusion:
    """``EVENT`` (between the first and last step) or ``EVENT:2-3`` (between steps 2 and 3)."""
    match = _EXCLUSION.match(text.strip())
    if not match:
        raise InvalidAnalysis("exclude", f"{text!r}: expected EVENT or EVENT:FROM-TO")
    if match.group("after") is None:
        return Exclusion(event=match.group("event"))
    return Exclusion(
        event=match.group("event"),
        after_step=int(match.group("after")),
        before_step=int(match.group("before")),
    )


def stage_model(model_file: Path | None, preset_name: str | None) -> StageModel:
    """The model in a YAML file, else a preset (default: ``ecommerce``)."""
    if model_file is not None:
        try:
            text = model_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise StageModelError(f"{model_file}: {exc.strerror or exc}") from None
        return load_stage_model(text, str(model_file))
    return preset(preset_name or "ecommerce")


def _plain(value: Any) -> Any:
    import pandas as pd

    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: NaN as None, dates and times as ISO 8601 text."""
    return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]
