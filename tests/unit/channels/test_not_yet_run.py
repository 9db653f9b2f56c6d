"""journeys apply warns about a send through a channel that does not deliver yet."""

from __future__ import annotations

from tests.unit.journeys.example import EXAMPLE
from wayline.engine.compile import not_yet_run
from wayline.journeys import load_journey_text


def test_email_and_sms_sends_raise_no_warning_inapp_does() -> None:
    assert not_yet_run(load_journey_text(EXAMPLE, "j.yaml")) == []
    sms = EXAMPLE.replace(
        "channel: email\n    template: cart-reminder", "channel: sms\n    template: cart-reminder"
    )
    assert not_yet_run(load_journey_text(sms, "j.yaml")) == []
    inapp = EXAMPLE.replace(
        "channel: email\n    template: cart-reminder", "channel: inapp\n    template: cart-reminder"
    )
    assert not_yet_run(load_journey_text(inapp, "j.yaml")) == [
        "node 'reminder': the inapp channel does not deliver yet: its messages become dead letters"
    ]
