"""The dispatcher: takes due outbox messages, hands each to its channel, records the outcome.

One step claims a batch (a short transaction), delivers its messages on a bounded thread
pool with no transaction open, and records each outcome as soon as it is known, so that a
crash repeats as few deliveries as possible. Failures that may pass are retried with
exponential backoff and full jitter; the others, and messages out of attempts, go to the
dead letters with their reason.
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

from wayline.channels.base import Channel, Delivery, Outcome
from wayline.channels.identify import IdentifyChannel
from wayline.channels.log import LogChannel
from wayline.channels.webhook import WebhookChannel
from wayline.clock import Clock
from wayline.settings import Settings
from wayline.store.base import Store
from wayline.store.outbox import OutboxMessage, OutboxStore

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
        self.clock = clock
        self.channels = dict(channels)
        self.on_sent = on_sent
        self.on_dead = on_dead
        self.max_attempts = settings.dispatch_max_attempts
        self.batch_size = settings.dispatch_batch_size
        self.concurrency = settings.dispatch_concurrency
        # The claim must outlast the batch: every wave of deliveries may take up to a
        # request's timeout for connecting, sending and reading.
        waves = math.ceil(self.batch_size / self.concurrency)
        self.lease = timedelta(seconds=60 + 3 * settings.webhook_timeout_seconds * waves)
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
        try:
            delivery = channel.deliver(message)
        except Exception as exc:  # a channel's bug must not stop the batch
            log.exception("message %d: channel %s failed", message.id, message.channel)
            delivery = Delivery.transient(f"{type(exc).__name__}: {exc}")
        self.record(message, delivery)

    def record(self, message: OutboxMessage, delivery: Delivery) -> None:
        if delivery.outcome is Outcome.OK:
            result = delivery.result

            def wake(conn: Connection) -> None:
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
        def tell(conn: Connection) -> None:
            self.on_dead(conn, message, reason)

        if self.outbox.mark_dead(message.id, reason, attempt=message.attempts, then=tell):
            log.warning("message %d is a dead letter: %s", message.id, reason)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        for channel in self.channels.values():
            channel.close()


def standard_channels(store: Store, settings: Settings, clock: Clock) -> dict[str, Channel]:
    """The channels every Wayline process has."""
    return {
        "log": LogChannel(),
        "identify": IdentifyChannel(store, clock),
        "webhook": WebhookChannel(
            store,
            clock,
            allowed_hosts=settings.webhook_allowed_hosts,
            timeout=settings.webhook_timeout_seconds,
            max_connections=settings.dispatch_concurrency,
        ),
    }
