"""The journey language: typed models of journey files, loading with located errors,
whole-journey checks and the JSON Schema.

Only the language lives here; running journeys is the engine's job.
"""

from __future__ import annotations

from wayline.journeys.filters import lookup, matches, parse_where
from wayline.journeys.loading import load_journey, load_journey_text
from wayline.journeys.problems import Problem
from wayline.journeys.schema import journey_json_schema
from wayline.journeys.spec import Journey
from wayline.journeys.validate import DEFAULT_CHANNELS, Issue, Known, check_journey

__all__ = [
    "DEFAULT_CHANNELS",
    "Issue",
    "Journey",
    "Known",
    "Problem",
    "check_journey",
    "journey_json_schema",
    "load_journey",
    "load_journey_text",
    "lookup",
    "matches",
    "parse_where",
]
