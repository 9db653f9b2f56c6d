"""The one list of internal events names exactly what Wayline's own parts write."""

from __future__ import annotations

from wayline.analytics.internal import INTERNAL_EVENTS, MESSAGE_SENT, is_internal_event
from wayline.channels import content, feedback
from wayline.engine.compile import SEGMENT_EVENTS
from wayline.segments.membership import ENTERED_EVENT, EXITED_EVENT
from wayline.stages.tracker import STAGE_ENTERED_EVENT


def test_the_names_are_those_the_emitters_write() -> None:
    written = {
        STAGE_ENTERED_EVENT,
        ENTERED_EVENT,
        EXITED_EVENT,
        *SEGMENT_EVENTS.values(),
        feedback.MESSAGE_SENT,
        feedback.MESSAGE_FAILED,
        feedback.EMAIL_DELIVERED,
        feedback.EMAIL_BOUNCED,
        feedback.SMS_DELIVERED,
        content.CONTENT_DELIVERED,
    }
    assert written == INTERNAL_EVENTS
    assert MESSAGE_SENT == feedback.MESSAGE_SENT


def test_what_the_customer_did_is_behaviour() -> None:
    for name in (
        feedback.EMAIL_OPENED,
        feedback.EMAIL_LINK_CLICKED,
        feedback.EMAIL_MARKED_AS_SPAM,
        feedback.UNSUBSCRIBED,
        content.CONTENT_VIEWED,
        content.CONTENT_CLICKED,
        content.CONTENT_DISMISSED,
        "Message Posted",
        "Segment Viewed",
        None,
    ):
        assert not is_internal_event(name), name
