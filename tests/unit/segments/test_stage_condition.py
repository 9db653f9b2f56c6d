"""The ``stage`` condition: the current stage, lists of stages, stalled customers and the
moment a customer becomes stalled; invalid conditions named at their line and field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from wayline.errors import SegmentInvalid
from wayline.segments.evaluate import Facts, evaluate, explain
from wayline.segments.loading import load_segments
from wayline.segments.schema import segment_json_schema
from wayline.segments.spec import Segment, uses_stages
from wayline.segments.stages import StagePlace

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def cond(data: dict[str, Any]) -> Any:
    return Segment.model_validate({"id": "s", "where": data}).where


def at(stage: str, ago: timedelta, stall_after: timedelta | None = None) -> Facts:
    return Facts(traits={}, stage=StagePlace(stage, NOW - ago, stall_after))


def test_the_current_stage_is_or_is_not_the_one_asked_about() -> None:
    c = cond({"stage": "consideration"})
    assert evaluate(c, at("consideration", timedelta(days=1)), NOW).met
    assert not evaluate(c, at("purchase", timedelta(days=1)), NOW).met
    assert not evaluate(c, Facts(traits={}), NOW).met  # in no stage
    either = cond({"stage": ["decision", "purchase"]})
    assert evaluate(either, at("purchase", timedelta(0)), NOW).met
    assert not evaluate(either, at("awareness", timedelta(0)), NOW).met


def test_a_customer_becomes_stalled_at_entered_plus_the_threshold() -> None:
    stalled = cond({"stage": "consideration", "stalled": True})
    fresh = cond({"stage": "consideration", "stalled": False})
    f = at("consideration", timedelta(days=10), stall_after=timedelta(days=14))
    turns = NOW + timedelta(days=4)
    out = evaluate(stalled, f, NOW)
    assert (out.met, out.next) == (False, turns)
    assert evaluate(fresh, f, NOW).met
    assert evaluate(fresh, f, NOW).next == turns
    assert not evaluate(stalled, f, turns - timedelta(seconds=1)).met
    after = evaluate(stalled, f, turns)
    assert (after.met, after.next) == (True, None)
    assert not evaluate(fresh, f, turns).met


def test_a_stage_with_no_threshold_has_nobody_stalled() -> None:
    f = at("consideration", timedelta(days=400))
    assert not evaluate(cond({"stage": "consideration", "stalled": True}), f, NOW).met
    out = evaluate(cond({"stage": "consideration", "stalled": False}), f, NOW)
    assert (out.met, out.next) == (True, None)


def test_inside_not_the_re_check_moment_is_kept() -> None:
    c = cond({"not": {"stage": "consideration", "stalled": True}})
    f = at("consideration", timedelta(days=1), stall_after=timedelta(days=2))
    out = evaluate(c, f, NOW)
    assert (out.met, out.next) == (True, NOW + timedelta(days=1))
    assert uses_stages(c)
    assert not uses_stages(cond({"trait": "plan", "eq": "pro"}))


def test_explain_shows_the_current_stage() -> None:
    tree = explain(cond({"stage": "purchase"}), at("decision", timedelta(hours=1)), NOW)
    assert tree["met"] is False
    assert tree["stage"] == "decision"


def write(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SegmentInvalid) as caught:
        load_segments([path], stored={})
    return [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]


def test_invalid_stage_conditions_are_named_at_their_field(tmp_path: Path) -> None:
    assert write(tmp_path, "id: s\nwhere: {stage: consideration, stalled: yes please}\n") == [
        "s.yaml:2:31: where.stalled: must be true or false, not 'yes please'"
    ]
    assert write(tmp_path, "id: s\nwhere: {stage: []}\n") == [
        "s.yaml:2:9: where.stage: must not be empty"
    ]
    assert write(tmp_path, "id: s\nwhere: {stage: 3}\n") == [
        "s.yaml:2:9: where.stage: a stage's name or a list of names, not 3"
    ]
    assert write(tmp_path, "id: s\nwhere: {stage: [decision, 3]}\n") == [
        "s.yaml:2:27: where.stage[1]: must be text, not 3 (put it in quotes)"
    ]
    assert write(tmp_path, "id: s\nwhere: {stage: purchase, stale: true}\n") == [
        "s.yaml:2:26: where: unknown field 'stale'"
    ]


def test_the_json_schema_has_the_stage_condition() -> None:
    text = str(segment_json_schema())
    assert "stalled" in text
    assert "StageCondition" in text
