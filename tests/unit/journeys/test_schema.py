"""The JSON Schema: its structure, and that it accepts the example (checked by a small
validator of the keywords it uses, as no JSON Schema library is a dependency)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.unit.journeys.example import EXAMPLE
from wayline.journeys import journey_json_schema
from wayline.journeys.nodes import NODE_MODELS
from wayline.journeys.source import parse

_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}
_IGNORED = {
    "title",
    "description",
    "default",
    "examples",
    "format",
    "discriminator",
    "$schema",
    "$defs",
}


def errors(schema: dict[str, Any], value: Any, root: dict[str, Any], at: str = "") -> list[str]:
    """What is wrong with ``value`` under ``schema``: enough of JSON Schema for this one."""
    found: list[str] = []
    for key, rule in schema.items():
        if key in _IGNORED or key in ("patternProperties", "additionalProperties"):
            continue
        if key == "$ref":
            found += errors(root["$defs"][rule.removeprefix("#/$defs/")], value, root, at)
        elif key in ("anyOf", "oneOf"):
            passing = sum(not errors(option, value, root, at) for option in rule)
            if passing == 0 or (key == "oneOf" and passing > 1):
                found.append(f"{at}: {passing} of {key} match")
        elif key == "items":
            for i, item in enumerate(value if isinstance(value, list) else []):
                found += errors(rule, item, root, f"{at}[{i}]")
        elif key == "required":
            missing = [name for name in rule if isinstance(value, dict) and name not in value]
            found += [f"{at}: missing {name}" for name in missing]
        elif key == "properties":
            pass  # with patternProperties and additionalProperties, below
        elif key in _CHECKS:
            if not _CHECKS[key](rule, value):
                found.append(f"{at}: {key} {rule!r} fails")
        else:
            raise AssertionError(f"the test validator does not know {key!r}")
    if isinstance(value, dict):
        found += _object_errors(schema, value, root, at)
    return found


_CHECKS: dict[str, Any] = {
    "type": lambda rule, v: _TYPES[rule](v),
    "const": lambda rule, v: v == rule,
    "enum": lambda rule, v: v in rule,
    "pattern": lambda rule, v: not isinstance(v, str) or re.search(rule, v),
    "minimum": lambda rule, v: not _TYPES["number"](v) or v >= rule,
    "minItems": lambda rule, v: not isinstance(v, list) or len(v) >= rule,
}


def _object_errors(
    schema: dict[str, Any], value: dict[str, Any], root: dict[str, Any], at: str
) -> list[str]:
    found: list[str] = []
    for name, item in value.items():
        where = f"{at}.{name}"
        if name in schema.get("properties", {}):
            found += errors(schema["properties"][name], item, root, where)
            continue
        patterns = [s for p, s in schema.get("patternProperties", {}).items() if re.search(p, name)]
        for sub in patterns:
            found += errors(sub, item, root, where)
        extra = schema.get("additionalProperties", True)
        if not patterns and extra is False:
            found.append(f"{where}: not allowed")
        elif not patterns and isinstance(extra, dict):
            found += errors(extra, item, root, where)
    return found


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return journey_json_schema()


def test_is_json_of_draft_2020_12(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert json.loads(json.dumps(schema)) == schema
    assert schema["required"] == ["id", "entry", "nodes"]


def test_accepts_the_example(schema: dict[str, Any]) -> None:
    assert errors(schema, parse(EXAMPLE).data, schema) == []


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda d: d["nodes"][0].update(type="sned"), ".nodes[0]: 0 of oneOf match"),
        (lambda d: d["nodes"][0].update(timeout="1 hour"), ".nodes[0]: 0 of oneOf match"),
        (lambda d: d.pop("entry"), ": missing entry"),
        (lambda d: d.update(colour="red"), ".colour: not allowed"),
        (lambda d: d["re_entry"].update(policy="sometimes"), ".re_entry.policy: enum"),
        (lambda d: d.update(entry={"segment": "vip", "on": "left"}), ".entry: 0 of oneOf match"),
    ],
)
def test_refuses_what_the_loader_refuses(schema: dict[str, Any], change: Any, error: str) -> None:
    data = parse(EXAMPLE).data
    change(data)
    assert any(e.startswith(error) for e in errors(schema, data, schema)), errors(
        schema, data, schema
    )


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
