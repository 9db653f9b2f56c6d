"""The JSON Schema: its structure, that it is a valid Draft 2020-12 schema, and that it
accepts the example and refuses what the loader refuses (checked with ``jsonschema``)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.unit.journeys.example import EXAMPLE
from wayline.journeys import journey_json_schema
from wayline.journeys.nodes import NODE_MODELS
from wayline.journeys.source import parse


def errors(schema: dict[str, Any], value: Any) -> list[tuple[str, str]]:
    """Where ``value`` breaks ``schema`` (a JSON path) and which keyword it breaks."""
    return sorted(
        (error.json_path, str(error.validator))
        for error in Draft202012Validator(schema).iter_errors(value)
    )


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return journey_json_schema()


def test_is_json_of_draft_2020_12(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert json.loads(json.dumps(schema)) == schema
    assert schema["required"] == ["id", "entry", "nodes"]
    # valid against the Draft 2020-12 metaschema (raises SchemaError if not)
    Draft202012Validator.check_schema(schema)


def test_accepts_the_example(schema: dict[str, Any]) -> None:
    assert errors(schema, parse(EXAMPLE).data) == []


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda d: d["nodes"][0].update(type="sned"), ("$.nodes[0]", "oneOf")),
        (lambda d: d["nodes"][0].update(timeout="1 hour"), ("$.nodes[0]", "oneOf")),
        (lambda d: d.pop("entry"), ("$", "required")),
        (lambda d: d.update(colour="red"), ("$", "additionalProperties")),
        (lambda d: d["re_entry"].update(policy="sometimes"), ("$.re_entry.policy", "enum")),
        (lambda d: d.update(entry={"segment": "vip", "on": "left"}), ("$.entry", "oneOf")),
    ],
)
def test_refuses_what_the_loader_refuses(
    schema: dict[str, Any], change: Any, error: tuple[str, str]
) -> None:
    data = parse(EXAMPLE).data
    change(data)
    assert error in errors(schema, data)


def test_nodes_are_a_union_on_type(schema: dict[str, Any]) -> None:
    items = schema["properties"]["nodes"]["items"]
    assert items["discriminator"]["propertyName"] == "type"
    assert set(items["discriminator"]["mapping"]) == set(NODE_MODELS)
    assert len(items["oneOf"]) == len(NODE_MODELS) == 11


def test_every_field_has_help_for_editors(schema: dict[str, Any]) -> None:
    missing = [
        f"{name}.{field}"
        for name, definition in schema["$defs"].items()
        for field, spec in definition.get("properties", {}).items()
        if not spec.get("description")
    ]
    assert missing == []
    timeout = schema["$defs"]["WaitForEventNode"]["properties"]["timeout"]
    assert timeout["description"] == "How long to wait for it."
    # descriptions are one paragraph, with `code` as editors render it
    until = schema["$defs"]["DelayNode"]["properties"]["until"]["description"]
    assert "\n" not in until
    assert "`traits.NAME`" in until
    assert "``" not in until


@pytest.mark.parametrize("good", ["30s", "15m", "1h", "7d", "2w", "PT1H", "P1DT2H", "P2W"])
def test_duration_pattern_accepts(schema: dict[str, Any], good: str) -> None:
    pattern = schema["$defs"]["WaitForEventNode"]["properties"]["timeout"]["pattern"]
    assert re.search(pattern, good)


@pytest.mark.parametrize("bad", ["1 hour", "P", "PT", "1H", "P1M", "-1d"])
def test_duration_pattern_refuses(schema: dict[str, Any], bad: str) -> None:
    pattern = schema["$defs"]["WaitForEventNode"]["properties"]["timeout"]["pattern"]
    assert not re.search(pattern, bad)
