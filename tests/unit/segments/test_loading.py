"""Segment files: the issue's example loads; invalid ones are refused with file, line, field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from wayline.errors import SegmentInvalid
from wayline.segments.loading import load_segments
from wayline.segments.schema import segment_json_schema
from wayline.segments.spec import (
    AllCondition,
    EventCondition,
    NotCondition,
    Segment,
    SequenceCondition,
    TraitCondition,
)

EXAMPLE = """\
id: cart-abandoners-high-value
name: Viewed and added, no purchase in 2 days, spent over 200 before
where:
  all:
    - sequence:
        steps: [{event: Product Viewed}, {event: Product Added}]
        within: 1h
    - not: {event: Order Completed, within: 2d}
    - {trait: lifetime_revenue, gt: 200}
    - any:
        - {trait: country, in: [DE, AT, CH]}
        - {event: Email Link Clicked, at_least: 2, within: 30d}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def messages(
    tmp_path: Path, *files: tuple[str, str], stored: dict[str, Segment] | None = None
) -> list[str]:
    paths = [write(tmp_path, name, text) for name, text in files]
    with pytest.raises(SegmentInvalid) as caught:
        load_segments(paths, stored={} if stored is None else stored)
    return [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]


def test_the_issue_example_loads(tmp_path: Path) -> None:
    (segment,) = load_segments([write(tmp_path, "s.yaml", EXAMPLE)], stored={})
    assert segment.id == "cart-abandoners-high-value"
    where = segment.where
    assert isinstance(where, AllCondition)
    sequence, negated, trait, _ = where.all
    assert isinstance(sequence, SequenceCondition)
    assert sequence.sequence.within == timedelta(hours=1)
    assert isinstance(negated, NotCondition)
    assert isinstance(negated.not_, EventCondition)
    assert negated.not_.within == timedelta(days=2)
    assert isinstance(trait, TraitCondition)
    assert trait.gt == 200


def test_an_unknown_condition_is_named_at_its_line(tmp_path: Path) -> None:
    text = "id: s\nwhere:\n  all:\n    - {trait: plan, eq: pro}\n    - {traits: plan, eq: pro}\n"
    assert messages(tmp_path, ("s.yaml", text)) == [
        "s.yaml:5:7: where.all[1]: unknown condition: it needs one of the keys all, any, not, "
        "sequence, segment, subscription, journey, stage, event, trait"
    ]


def test_a_bad_window_is_named_at_its_field(tmp_path: Path) -> None:
    text = "id: s\nwhere: {event: Order Completed, within: 2 days}\n"
    assert messages(tmp_path, ("s.yaml", text)) == [
        "s.yaml:2:33: where.within: not a duration: '2 days' (use 30s, 15m, 1h, 7d or ISO 8601 "
        "like PT1H)"
    ]


def test_an_unknown_operator_is_refused(tmp_path: Path) -> None:
    text = "id: s\nwhere: {trait: plan, equals: pro}\n"
    assert messages(tmp_path, ("s.yaml", text)) == ["s.yaml:2:22: where: unknown field 'equals'"]


def test_a_reference_to_a_missing_segment(tmp_path: Path) -> None:
    text = "id: s\nwhere:\n  any:\n    - {segment: vips}\n"
    stored = {"vip": Segment.model_validate({"id": "vip", "where": {"trait": "vip", "eq": True}})}
    assert messages(tmp_path, ("s.yaml", text), stored=stored) == [
        "s.yaml:4:8: where.any[0].segment: no segment 'vips' in this workspace "
        "(did you mean 'vip'?)"
    ]


def test_a_cycle_between_segments(tmp_path: Path) -> None:
    a = "id: a\nwhere: {segment: b}\n"
    b = "id: b\nwhere:\n  all: [{segment: a}, {trait: x, exists: true}]\n"
    assert messages(tmp_path, ("a.yaml", a), ("b.yaml", b)) == [
        "a.yaml:2:9: where.segment: segments refer to each other in a cycle: a -> b -> a"
    ]


def test_a_segment_that_refers_to_itself(tmp_path: Path) -> None:
    text = "id: a\nwhere: {not: {segment: a}}\n"
    assert messages(tmp_path, ("a.yaml", text)) == [
        "a.yaml:2:15: where.not.segment: segments refer to each other in a cycle: a -> a"
    ]


def test_questions_that_do_not_combine(tmp_path: Path) -> None:
    text = (
        "id: s\nwhere:\n  any:\n"
        "    - {event: X, first: {before: 2026-01-01}, within: 2d}\n"
        "    - {event: X, at_least: 3, at_most: 1}\n"
        "    - {trait: plan}\n"
    )
    found = messages(tmp_path, ("s.yaml", text))
    assert found[0].startswith("s.yaml:4:47: where.any[0].within: within does not combine")
    assert found[1].startswith("s.yaml:5:18: where.any[1].at_least: at_least 3 is more than")
    assert found[2].startswith("s.yaml:6:7: where.any[2]: a trait condition needs an operator")


def test_yaml_errors_and_the_wrong_shape(tmp_path: Path) -> None:
    assert messages(tmp_path, ("s.yaml", "- a\n- b\n")) == [
        "s.yaml:1:1: a segment is a mapping of keys (id, name, where), not a list"
    ]
    assert messages(tmp_path, ("s.yaml", "id: s\nid: t\nwhere: {segment: x}\n"))[0].startswith(
        "s.yaml:2:1: duplicate key 'id'"
    )


def test_the_json_schema_describes_every_condition() -> None:
    schema = segment_json_schema()
    assert schema["title"] == "Wayline segment"
    text = str(schema)
    for key in ("sequence", "subscription", "at_least", "older_than", "not"):
        assert key in text


def test_the_json_schema_is_valid_and_accepts_the_example() -> None:
    schema = segment_json_schema()
    Draft202012Validator.check_schema(schema)  # against the Draft 2020-12 metaschema
    validator = Draft202012Validator(schema)
    assert list(validator.iter_errors(yaml.safe_load(EXAMPLE))) == []
    wrong = {**yaml.safe_load(EXAMPLE), "colour": "red"}
    assert [e.validator for e in validator.iter_errors(wrong)] == ["additionalProperties"]
