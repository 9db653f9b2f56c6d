"""A workspace's global controls: frequency caps and quiet hours, as written in its file.

Applied by the journey runtime to every message a journey is about to queue (see
``wayline.engine.controls``). Loaded like a journey file: YAML or JSON, every problem
reported at its line, nothing stored unless the whole file is valid.

```yaml
frequency_caps:
  - {channel: email, limit: 3, per: 7d}
  - {channel: sms, limit: 1, per: 1d}
quiet_hours:
  - {channels: [email, sms], from: "21:00", to: "08:00", timezone: customer, action: postpone}
```
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    Field,
    StrictInt,
    WithJsonSchema,
    model_validator,
)

from wayline.errors import ControlsInvalid
from wayline.journeys.base import SpecModel, problem
from wayline.journeys.durations import Duration, format_duration
from wayline.journeys.files import read_document, read_text, validated
from wayline.journeys.problems import Problem
from wayline.journeys.source import Source
from wayline.journeys.timing import ClockTime, TimeZone
from wayline.journeys.validate import DEFAULT_CHANNELS

#: Every channel but ``webhook``: the messages a customer reads.
ALL: Final = "*"
_CHANNELS: Final = ", ".join(sorted(DEFAULT_CHANNELS))


def _channel(value: str) -> str:
    if value != ALL and value not in DEFAULT_CHANNELS:
        close = difflib.get_close_matches(value, sorted(DEFAULT_CHANNELS), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise problem(
            "channel",
            f"unknown channel {value!r} ({hint}one of: {_CHANNELS}, or * for every channel "
            "but webhook)",
        )
    return value


#: ``email``, ``sms``, ``inapp``, ``log``, ``webhook``, or ``*``: every channel but webhook.
Channel = Annotated[
    str,
    AfterValidator(_channel),
    WithJsonSchema({"type": "string", "enum": [*sorted(DEFAULT_CHANNELS), ALL]}),
]


def covers(channel: str, message_channel: str) -> bool:
    """Whether a control written for ``channel`` applies to a message on ``message_channel``."""
    if channel == ALL:
        return message_channel != "webhook"
    return channel == message_channel


def describe(channel: str) -> str:
    return "all channels" if channel == ALL else channel


class FrequencyCap(SpecModel):
    """At most ``limit`` marketing messages to a customer on ``channel`` in any ``per``."""

    channel: Channel
    """The channel counted, or ``*`` for every channel but webhook together."""
    limit: StrictInt = Field(ge=1)
    """How many messages at most."""
    per: Duration
    """In any window this long: ``1d``, ``7d``, ``24h``."""

    def __str__(self) -> str:
        return f"{describe(self.channel)} {self.limit} per {format_duration(self.per)}"


class QuietHours(SpecModel):
    """Local hours in which ``channels`` send nothing but transactional messages."""

    channels: list[Channel] = Field(min_length=1)
    """The channels kept quiet; ``*`` for every channel but webhook."""
    from_: ClockTime = Field(alias="from")
    """The start of the quiet time, ``"21:00"``."""
    to: ClockTime
    """Its end (when sending resumes), ``"08:00"``; before ``from``, it runs past midnight."""
    timezone: TimeZone = "customer"
    """``customer`` (their ``timezone`` trait, else the workspace's), ``workspace``, or an
    IANA name such as ``Europe/Paris``."""
    action: Literal["postpone", "drop"] = "postpone"
    """``postpone``: the customer waits at the node until the quiet time ends, then the
    message is reconsidered; ``drop``: they go on without it."""

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.from_ == self.to:
            raise problem("window", "from and to are the same time: nothing is quiet", at=("to",))
        return self

    def span(self) -> str:
        return f"{self.from_:%H:%M}-{self.to:%H:%M}"


class Controls(SpecModel):
    """A workspace's global controls, applied to every journey's messages."""

    frequency_caps: list[FrequencyCap] = Field(default_factory=list)
    """Caps on marketing messages per customer and channel; transactional ones are exempt."""
    quiet_hours: list[QuietHours] = Field(default_factory=list)
    """Local hours without marketing messages; transactional ones are exempt."""

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data


_FIELDS: Final = tuple(
    sorted(
        {
            info.alias or name
            for model in (Controls, FrequencyCap, QuietHours)
            for name, info in model.model_fields.items()
        }
    )
)


def controls_json_schema() -> dict[str, Any]:
    """The JSON Schema of a controls file, for editors (as written: ``7d``, ``"21:00"``)."""
    from wayline.journeys.schema import SCHEMA_DIALECT, _plain

    schema = Controls.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "Wayline workspace controls",
        "description": (
            "Frequency caps and quiet hours applied to every journey's messages. "
            "Reference: docs/journeys.md#controls."
        ),
        **{k: _plain(v) for k, v in schema.items() if k not in ("title", "description")},
    }


def load_controls(path: str | Path) -> Controls:
    """Load and check a controls file (YAML or JSON). Raises :class:`ControlsInvalid`."""
    return load_controls_text(read_text(path, ControlsInvalid), str(path))


def load_controls_text(text: str, source_name: str = "<text>") -> Controls:
    """Load and check controls from YAML or JSON text. Raises :class:`ControlsInvalid`."""
    source = read_document(
        text,
        source_name,
        ControlsInvalid,
        not_a_mapping="controls are a mapping of keys (frequency_caps, quiet_hours)",
    )
    return _validate(source.data, source, source_name)


def controls_from_data(data: Any, source_name: str = "<api>") -> Controls:
    """Check controls given as data (a JSON body). Problems carry the field, not a line."""
    if not isinstance(data, dict):
        raise ControlsInvalid(
            [Problem(file=source_name, message="controls are a mapping (a JSON object)")]
        )
    return _validate(data, None, source_name)


def _validate(data: Any, source: Source | None, name: str) -> Controls:
    return validated(Controls, data, source, name, ControlsInvalid, fields=_FIELDS)
