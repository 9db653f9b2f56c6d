"""The controls file: what it accepts, and where it says a problem is."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from wayline.errors import ControlsInvalid
from wayline.journeys.controls import (
    Controls,
    controls_from_data,
    controls_json_schema,
    covers,
    load_controls,
    load_controls_text,
)


def _problems(text: str) -> list[str]:
    with pytest.raises(ControlsInvalid) as caught:
        load_controls_text(text, "c.yaml")
    return [str(p) for p in caught.value.problems]


def test_a_full_file_reads_and_round_trips() -> None:
    controls = load_controls_text(
        """
frequency_caps:
  - {channel: email, limit: 3, per: 7d}
  - {channel: "*", limit: 10, per: P14D}
quiet_hours:
  - {channels: [email, sms], from: "21:00", to: "08:00"}
  - {channels: [webhook], from: "12:00", to: "14:00", timezone: Europe/Berlin, action: drop}
"""
    )
    assert controls.frequency_caps[1].per == timedelta(days=14)
    assert str(controls.frequency_caps[0]) == "email 3 per 7d"
    assert str(controls.frequency_caps[1]) == "all channels 10 per 14d"
    quiet = controls.quiet_hours[0]
    assert (quiet.from_, quiet.to, quiet.timezone, quiet.action) == (
        time(21),
        time(8),
        "customer",
        "postpone",
    )
    assert controls_from_data(controls.to_data()) == controls
    assert Controls() == load_controls_text("{}")


def test_star_covers_every_channel_but_webhook() -> None:
    assert [covers("*", c) for c in ("email", "sms", "inapp", "log", "webhook")] == [
        True,
        True,
        True,
        True,
        False,
    ]
    assert covers("webhook", "webhook")
    assert not covers("email", "sms")


def test_every_problem_is_reported_at_its_line() -> None:
    assert _problems(
        """frequency_caps:
  - {channel: email, limit: 0, per: 7d}
  - {channel: sms, limit: 1, per: 1 day}
quiet_hours:
  - channels: []
    from: "25:00"
    to: "08:00"
    timezone: Mars/Olympus
    acton: drop
"""
    ) == [
        "c.yaml:2:22: frequency_caps[0].limit: must be at least 1, not 0",
        "c.yaml:3:30: frequency_caps[1].per: not a duration: '1 day' (use 30s, 15m, 1h, 7d or "
        "ISO 8601 like PT1H)",
        "c.yaml:5:5: quiet_hours[0].channels: must not be empty",
        "c.yaml:6:5: quiet_hours[0].from: not a time of day: '25:00' (use HH:MM, like \"09:00\")",
        "c.yaml:8:5: quiet_hours[0].timezone: not a time zone: 'Mars/Olympus' (use workspace, "
        "customer or an IANA name like Europe/Paris)",
        "c.yaml:9:5: quiet_hours[0].acton: unknown field 'acton' (did you mean 'action'?)",
    ]


def test_an_empty_quiet_time_and_a_file_that_is_not_a_mapping() -> None:
    assert _problems('quiet_hours: [{channels: [sms], from: "21:00", to: "21:00"}]') == [
        "c.yaml:1:48: quiet_hours[0].to: from and to are the same time: nothing is quiet"
    ]
    assert _problems("- email") == [
        "c.yaml:1:1: controls are a mapping of keys (frequency_caps, quiet_hours)"
    ]
    assert _problems("frequency_caps: [\n")[0].startswith("c.yaml:2:1: not valid YAML")


def test_a_json_file_and_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "controls.json"
    path.write_text('{"frequency_caps": [{"channel": "sms", "limit": 1, "per": "1d"}]}')
    assert load_controls(path).frequency_caps[0].limit == 1
    with pytest.raises(ControlsInvalid, match="cannot read"):
        load_controls(tmp_path / "nope.yaml")


def test_the_json_schema_names_the_file_keys_and_channels() -> None:
    schema = controls_json_schema()
    assert set(schema["properties"]) == {"frequency_caps", "quiet_hours"}
    quiet = schema["$defs"]["QuietHours"]
    assert {"from", "to", "channels", "timezone", "action"} <= set(quiet["properties"])
    assert quiet["additionalProperties"] is False
    channel = schema["$defs"]["FrequencyCap"]["properties"]["channel"]
    assert channel["enum"] == ["email", "inapp", "log", "sms", "webhook", "*"]


def test_the_json_schema_is_valid_and_accepts_a_file() -> None:
    schema = controls_json_schema()
    Draft202012Validator.check_schema(schema)  # against the Draft 2020-12 metaschema
    validator = Draft202012Validator(schema)
    good = {
        "frequency_caps": [{"channel": "email", "limit": 3, "per": "7d"}],
        "quiet_hours": [{"channels": ["sms"], "from": "21:00", "to": "08:00"}],
    }
    assert list(validator.iter_errors(good)) == []
    bad = {"frequency_caps": [{"channel": "fax", "limit": 3, "per": "7d"}]}
    assert [e.json_path for e in validator.iter_errors(bad)] == ["$.frequency_caps[0].channel"]
