"""The dispatcher: takes due outbox messages, hands each to its channel, records the outcome.

One step claims a batch (a short transaction), delivers its messages on a bounded thread
pool with no transaction open, and records each outcome as soon as it is known, so that a
crash repeats as few deliveries as possible. Failures that may pass are retried with
exponential backoff and full jitter; the others, and messages out of attempts, go to the
dead letters with their reason.

Messages of ``send`` nodes through email and SMS are the customer's messages: unless
transactional, one to a customer who unsubscribed is dropped before it reaches the
channel, and the drop is written into the journey trace. Their outcomes also go onto the
customer's timeline (``Message Sent``, ``Message Failed``) and into the message's status
history.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Connection

from wayline import consent
from wayline.channels import feedback
from wayline.channels.base import Channel, Delivery, Outcome
from wayline.channels.identify import IdentifyChannel
from wayline.channels.log import LogChannel
from wayline.channels.webhook import WebhookChannel
from wayline.clock import Clock
from wayline.settings import Settings
from wayline.store.base import Store
from wayline.store.journeys import JourneyStore, Step
from wayline.store.messages import MessageEvent, record
from wayline.store.outbox import OutboxMessage, OutboxStore
from wayline.store.sql import SqlStore

log = logging.getLogger("wayline.dispatcher")

#: Called in the transaction that records a message as sent, with the channel's answer:
#: how the journey worker wakes an instance that waits for a webhook's response, in the
#: same commit, so that a crash cannot record the one without the other.
OnSent = Callable[[Connection, OutboxMessage, Any], None]
#: Called in the transaction that gives up on a message, with the reason (the journey
#: instance that waits for a webhook's response goes on without it).
OnDead = Callable[[Connection, OutboxMessage, str], None]

BASE_DELAY = timedelta(seconds=5)
MAX_DELAY = timedelta(hours=1)


def backoff(attempts: int, rng: random.Random) -> timedelta:
    """The wait after the ``attempts``-th failure: anything up to 5 s doubled per attempt,
    at most an hour ("full jitter", so that messages failed together spread out)."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** min(max(attempts - 1, 0), 20))
    return timedelta(seconds=rng.uniform(0, ceiling.total_seconds()))


def _nothing(conn: Connection, message: OutboxMessage, result: Any) -> None:
    pass


def _nothing_dead(conn: Connection, message: OutboxMessage, error: str) -> None:
    pass


class Dispatcher:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Clock,
        channels: Mapping[str, Channel],
        *,
        on_sent: OnSent = _nothing,
        on_dead: OnDead = _nothing_dead,
        rng: random.Random | None = None,
    ) -> None:
        self.outbox = OutboxStore(store)
        self.store = self.outbox.store
        self.clock = clock
        self.channels = dict(channels)
        self.on_sent = on_sent
        self.on_dead = on_dead
        self.max_attempts = settings.dispatch_max_attempts
        self.batch_size = settings.dispatch_batch_size
        self.concurrency = settings.dispatch_concurrency
        # The claim must outlast the batch: every wave of deliveries may take up to a
        # request's (or an SMTP command's) timeout for connecting, sending and reading.
        waves = math.ceil(self.batch_size / self.concurrency)
        slowest = max(settings.webhook_timeout_seconds, settings.smtp_timeout_seconds)
        self.lease = timedelta(seconds=60 + 3 * slowest * waves)
        self._rng = rng or random.Random()
        self._pool: ThreadPoolExecutor | None = None

    def step(self) -> int:
        """Deliver one batch of due messages. Returns how many were claimed."""
        messages = self.outbox.claim(self.batch_size, self.lease)
        if len(messages) > 1 and self.concurrency > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, "wayline-dispatch")
            for _ in self._pool.map(self.dispatch, messages):
                pass
        else:
            for message in messages:
                self.dispatch(message)
        return len(messages)

    def dispatch(self, message: OutboxMessage) -> None:
        """Deliver one claimed message and record how it went."""
        channel = self.channels.get(message.channel)
        if channel is None:
            self._dead(message, f"unknown channel {message.channel!r}")
            return
        if message.attempts > self.max_attempts:
            # claims that lapsed count too: a message that keeps killing its dispatcher stops
            self._dead(message, f"no outcome after {message.attempts - 1} attempts")
            return
        reason = self._blocked(message)
        if reason is not None:
            self._drop(message, reason)
            return
        try:
            delivery = channel.deliver(message)
        except Exception as exc:  # a channel's bug must not stop the batch
            log.exception("message %d: channel %s failed", message.id, message.channel)
            delivery = Delivery.transient(f"{type(exc).__name__}: {exc}")
        self.record(message, delivery)

    def record(self, message: OutboxMessage, delivery: Delivery) -> None:
        if delivery.outcome is Outcome.OK:
            result = delivery.result
            customer = _to_customer(message)
            if customer:
                feedback.emit(
                    self.store,
                    message,
                    feedback.MESSAGE_SENT,
                    f"sent-{message.id}",
                    feedback.message_properties(message),
                )

            def wake(conn: Connection) -> None:
                if customer:
                    detail = result if isinstance(result, dict) else None
                    record(
                        self.store,
                        conn,
                        message,
                        MessageEvent.SENT,
                        self.clock.now(),
                        detail=detail,
                    )
                self.on_sent(conn, message, result)

            if not self.outbox.mark_sent(message.id, result, then=wake):
                log.info("message %d was already recorded", message.id)
            return
        if delivery.outcome is Outcome.PERMANENT:
            self._dead(message, delivery.error)
            return
        if message.attempts >= self.max_attempts:
            self._dead(message, f"gave up after {message.attempts} attempts: {delivery.error}")
            return
        delay = backoff(message.attempts, self._rng)
        if delivery.retry_after is not None:
            delay = max(delay, delivery.retry_after)
        at = self.clock.now() + delay
        self.outbox.retry_later(message.id, delivery.error, at, attempt=message.attempts)
        log.info(
            "message %d: attempt %d failed, again at %s: %s",
            message.id,
            message.attempts,
            at.isoformat(),
            delivery.error,
        )

    def _dead(self, message: OutboxMessage, reason: str) -> None:
        customer = _to_customer(message)
        if customer:
            feedback.emit(
                self.store,
                message,
                feedback.MESSAGE_FAILED,
                f"failed-{message.id}",
                feedback.message_properties(message, error=reason[:500]),
            )

        def history(conn: Connection) -> None:
            self.on_dead(conn, message, reason)
            if customer:
                record(
                    self.store,
                    conn,
                    message,
                    MessageEvent.FAILED,
                    self.clock.now(),
                    detail={"error": reason},
                )

        if self.outbox.mark_dead(message.id, reason, attempt=message.attempts, then=history):
            log.warning("message %d is a dead letter: %s", message.id, reason)

    def _blocked(self, message: OutboxMessage) -> str | None:
        """Why this message may not go to its customer now (suppression, consent), or None."""
        if not _to_customer(message) or not message.profile_id:
            return None
        return consent.may_send(self.store, message)

    def _drop(self, message: OutboxMessage, reason: str) -> None:
        now = self.clock.now()

        def trace(conn: Connection) -> None:
            if message.instance_id is not None and message.journey_id and message.profile_id:
                step = Step(
                    instance_id=message.instance_id,
                    workspace_id=message.workspace_id,
                    journey_id=message.journey_id,
                    profile_id=message.profile_id,
                    node=message.node or "",
                    kind="dropped",
                    reason=f"{message.channel} message {message.payload.get('template')} "
                    f"not sent: {reason}",
                    at=now,
                )
                JourneyStore(self.store).add_steps(conn, [step])
            record(self.store, conn, message, MessageEvent.DROPPED, now, detail={"reason": reason})

        if self.outbox.mark_dropped(message.id, reason, attempt=message.attempts, then=trace):
            log.info("message %d dropped: %s", message.id, reason)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        for channel in self.channels.values():
            channel.close()


#: The channels that reach customers: their messages are checked against consent and
#: their outcomes go onto the customer's timeline (``log`` only logs, for simulations).
CUSTOMER_CHANNELS = frozenset({"email", "sms", "inapp"})


def _to_customer(message: OutboxMessage) -> bool:
    """A message of a ``send`` node (it names a template) to a customer, as opposed to a
    webhook call or a logged message."""
    return message.channel in CUSTOMER_CHANNELS and "template" in message.payload


def standard_channels(store: Store, settings: Settings, clock: Clock) -> dict[str, Channel]:
    """The channels every Wayline process has."""
    from wayline.channels.email import EmailChannel
    from wayline.channels.inapp import InAppChannel
    from wayline.channels.sms import SmsChannel
    from wayline.channels.tracking import Tracker

    assert isinstance(store, SqlStore)
    tracker = Tracker(store, settings.public_url, timedelta(days=settings.tracking_token_days))
    return {
        "log": LogChannel(),
        "identify": IdentifyChannel(store, clock),
        "email": EmailChannel(store, tracker, timeout=settings.smtp_timeout_seconds),
        "inapp": InAppChannel(store, clock),
        # the provider's base URL passes the same guard as webhooks: a workspace's admin
        # cannot point it at Wayline's own network unless it is allow-listed
        "sms": SmsChannel(
            store,
            allowed_hosts=settings.webhook_allowed_hosts,
            timeout=settings.webhook_timeout_seconds,
            max_connections=settings.dispatch_concurrency,
        ),
        "webhook": WebhookChannel(
            store,
            clock,
            allowed_hosts=settings.webhook_allowed_hosts,
            timeout=settings.webhook_timeout_seconds,
            max_connections=settings.dispatch_concurrency,
        ),
    }
