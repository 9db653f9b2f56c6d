"""journeys apply warns about a send through a channel that does not deliver yet."""

from __future__ import annotations

from tests.unit.journeys.example import EXAMPLE
from wayline.engine.compile import not_yet_run
from wayline.journeys import load_journey_text


def _through(channel: str) -> str:
    return EXAMPLE.replace(
        "channel: email\n    template: cart-reminder",
        f"channel: {channel}\n    template: cart-reminder",
    )


def test_email_sms_and_inapp_sends_raise_no_warning_a_workspace_channel_does() -> None:
    assert not_yet_run(load_journey_text(EXAMPLE, "j.yaml")) == []
    assert not_yet_run(load_journey_text(_through("sms"), "j.yaml")) == []
    assert not_yet_run(load_journey_text(_through("inapp"), "j.yaml")) == []
