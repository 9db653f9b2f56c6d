"""The dispatcher: takes due outbox messages, hands each to its channel, records the outcome.

One step claims a batch (a short transaction; on PostgreSQL rows another dispatcher holds
are skipped), checks it, lets each channel read what the batch needs at once (``prepare``,
when the channel has it), delivers its messages on a bounded thread pool with no
transaction open, and records the batch's outcomes together: the timeline events in a
transaction of their own, then the outbox rows, their status history and the journeys'
trace in one more. A row is recorded once: an outcome for a row already recorded (or, for a
failure, claimed again since) is ignored. A dispatcher that dies between delivering and
recording repeats that batch's deliveries once its claim lapses (an email keeps its
Message-ID, a webhook its ``webhook-id``, so receivers can tell the repeat). Failures that
may pass are retried with exponential backoff and full jitter, no sooner than a
Retry-After; the others, and messages out of attempts, go to the dead letters with their
reason.

Messages of ``send`` nodes through email and SMS are the customer's messages: unless
transactional, one to a customer who unsubscribed is dropped before it reaches the
channel, and the drop is written into the journey trace. A journey's marketing message is
also checked again against the workspace's quiet hours and frequency caps (``holds``):
it may have waited in the outbox since the journey queued it. Outcomes of customer
messages go onto the customer's timeline (``Message Sent``, ``Message Failed``) and into
the message's status history.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from wayline import consent
from wayline.channels import feedback, holds
from wayline.channels.base import Channel, Delivery, Outcome
from wayline.channels.holds import Hold
from wayline.channels.identify import IdentifyChannel
from wayline.channels.log import LogChannel
from wayline.channels.webhook import WebhookChannel
from wayline.clock import Clock
from wayline.engine.steps import DROPPED, POSTPONED
from wayline.settings import Settings
from wayline.store.base import Store
from wayline.store.journeys import JourneyStore, Step
from wayline.store.messages import HistoryEntry, MessageEvent, record_many
from wayline.store.outbox import OutboxMessage, OutboxState, OutboxStore, Settlement
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
        """Deliver one batch of due messages. Returns how many were claimed.

        The batch is checked (consent, quiet hours, caps) in one read, delivered with no
        transaction open, and its outcomes recorded together: the timeline events first,
        each workspace's in a transaction of its own, then the outbox rows, their status
        history and the journeys' trace in one more.
        """
        messages = self.outbox.claim(self.batch_size, self.lease)
        if not messages:
            return 0
        settled: dict[int, Settlement] = {}
        notes: list[_Note] = []
        deliverable: list[OutboxMessage] = []
        checked = [m for m in messages if self._admissible(m, settled)]
        held = self._held(checked)
        for message in checked:
            if message.id in held:
                self._hold(message, held[message.id], settled, notes)
            else:
                deliverable.append(message)
        for message, delivery in zip(deliverable, self._deliver(deliverable), strict=True):
            settled[message.id] = self._judge(message, delivery)
        self._record([settled[m.id] for m in messages if m.id in settled], notes)
        return len(messages)

    def dispatch(self, message: OutboxMessage) -> None:
        """Deliver one claimed message and record how it went."""
        settled: dict[int, Settlement] = {}
        notes: list[_Note] = []
        if self._admissible(message, settled):
            hold = self._held([message]).get(message.id)
            if hold is not None:
                self._hold(message, hold, settled, notes)
            else:
                (delivery,) = self._deliver([message])
                settled[message.id] = self._judge(message, delivery)
        self._record(list(settled.values()), notes)

    # -- before delivery -------------------------------------------------------------------

    def _admissible(self, message: OutboxMessage, settled: dict[int, Settlement]) -> bool:
        if message.channel not in self.channels:
            settled[message.id] = _dead(message, f"unknown channel {message.channel!r}")
            return False
        if message.attempts > self.max_attempts:
            # claims that lapsed count too: a message that keeps killing its dispatcher stops
            reason = f"no outcome after {message.attempts - 1} attempts"
            settled[message.id] = _dead(message, reason)
            return False
        return True

    def _held(self, messages: list[OutboxMessage]) -> dict[int, Hold]:
        """The messages that may not go out now, and why: consent, then the workspace's
        quiet hours and frequency caps. One connection for the batch."""
        if not any(_to_customer(m) or holds.reviewed(m) for m in messages):
            return {}
        now = self.clock.now()
        found: dict[int, Hold] = {}
        with self.store.engine.connect() as conn:
            for message in messages:
                reason = self._blocked(conn, message)
                if reason is not None:
                    found[message.id] = Hold(reason=reason)
            rest = [m for m in messages if m.id not in found]
            zones = {ws: self._zone(ws) for ws in {m.workspace_id for m in rest}}
            found.update(holds.review(conn, rest, now, zones))
        return found

    def _zone(self, workspace_id: str) -> str:
        workspace = self.store.workspace(workspace_id)
        return workspace.timezone if workspace else "UTC"

    def _blocked(self, conn: Connection, message: OutboxMessage) -> str | None:
        """Why this message may not go to its customer now (suppression, consent), or None."""
        if not _to_customer(message) or not message.profile_id:
            return None
        return consent.may_send_on(conn, message)

    def _hold(
        self,
        message: OutboxMessage,
        hold: Hold,
        settled: dict[int, Settlement],
        notes: list[_Note],
    ) -> None:
        what = f"{message.channel} message {message.payload.get('template') or ''}".rstrip()
        if hold.until is None:
            settled[message.id] = Settlement(
                message=message, state=OutboxState.DROPPED, error=hold.reason
            )
            notes.append(_Note(message, DROPPED, f"{what} not sent: {hold.reason}", hold))
        else:
            settled[message.id] = Settlement(
                message=message,
                state=OutboxState.PENDING,
                error=f"postponed: {hold.reason}",
                at=hold.until,
                refund=True,
            )
            notes.append(_Note(message, POSTPONED, f"{what} postponed: {hold.reason}", hold))

    # -- delivery --------------------------------------------------------------------------

    def _deliver(self, messages: list[OutboxMessage]) -> list[Delivery]:
        for name in {m.channel for m in messages}:
            prepare = getattr(self.channels[name], "prepare", None)
            if prepare is not None:
                try:
                    prepare([m for m in messages if m.channel == name])
                except Exception:  # each message is then read on its own
                    log.exception("channel %s could not prepare its batch", name)
        if len(messages) > 1 and self.concurrency > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, "wayline-dispatch")
            return list(self._pool.map(self._attempt, messages))
        return [self._attempt(m) for m in messages]

    def _attempt(self, message: OutboxMessage) -> Delivery:
        try:
            return self.channels[message.channel].deliver(message)
        except Exception as exc:  # a channel's bug must not stop the batch
            log.exception("message %d: channel %s failed", message.id, message.channel)
            return Delivery.transient(f"{type(exc).__name__}: {exc}")

    def _judge(self, message: OutboxMessage, delivery: Delivery) -> Settlement:
        if delivery.outcome is Outcome.OK:
            return Settlement(message=message, state=OutboxState.SENT, result=delivery.result)
        if delivery.outcome is Outcome.PERMANENT:
            return _dead(message, delivery.error)
        if message.attempts >= self.max_attempts:
            return _dead(message, f"gave up after {message.attempts} attempts: {delivery.error}")
        delay = backoff(message.attempts, self._rng)
        if delivery.retry_after is not None:
            delay = max(delay, delivery.retry_after)
        at = self.clock.now() + delay
        log.info(
            "message %d: attempt %d failed, again at %s: %s",
            message.id,
            message.attempts,
            at.isoformat(),
            delivery.error,
        )
        return Settlement(message=message, state=OutboxState.PENDING, error=delivery.error, at=at)

    # -- after delivery --------------------------------------------------------------------

    def _record(self, settlements: list[Settlement], notes: list[_Note]) -> None:
        """The timeline events first (the inbox insert opens its own transaction), then
        the outbox rows with their history and trace, in one transaction."""
        events = [
            feedback.Feedback(
                message=s.message,
                event=feedback.MESSAGE_SENT,
                key=f"sent-{s.message.id}",
                properties=feedback.message_properties(s.message),
            )
            if s.state is OutboxState.SENT
            else feedback.Feedback(
                message=s.message,
                event=feedback.MESSAGE_FAILED,
                key=f"failed-{s.message.id}",
                properties=feedback.message_properties(s.message, error=(s.error or "")[:500]),
            )
            for s in settlements
            if s.state in (OutboxState.SENT, OutboxState.DEAD) and _to_customer(s.message)
        ]
        if events:
            feedback.emit_many(self.store, events)
        by_id = {n.message.id: n for n in notes}
        now = self.clock.now()

        def history(conn: Connection, done: list[Settlement]) -> None:
            entries: list[HistoryEntry] = []
            steps: list[Step] = []
            for s in done:
                m = s.message
                note = by_id.get(m.id)
                if s.state is OutboxState.SENT:
                    if _to_customer(m):
                        detail = s.result if isinstance(s.result, dict) else None
                        entries.append(
                            HistoryEntry(message=m, kind=MessageEvent.SENT, at=now, detail=detail)
                        )
                    self.on_sent(conn, m, s.result)
                elif s.state is OutboxState.DEAD:
                    self.on_dead(conn, m, s.error or "")
                    if _to_customer(m):
                        entries.append(
                            HistoryEntry(
                                message=m,
                                kind=MessageEvent.FAILED,
                                at=now,
                                detail={"error": s.error},
                            )
                        )
                elif note is not None:
                    entries.append(note.entry(now))
                    step = note.step(now)
                    if step is not None:
                        steps.append(step)
                    if s.state is OutboxState.DROPPED and not _to_customer(m):
                        # e.g. a webhook whose journey waits for its answer goes on
                        self.on_dead(conn, m, s.error or "")
            record_many(self.store, conn, entries)
            if steps:
                JourneyStore(self.store).add_steps(conn, steps)

        done = self.outbox.settle(settlements, then=history)
        recorded = {s.message.id for s in done}
        for s in settlements:
            if s.message.id not in recorded:
                log.info("message %d: its outcome was already recorded", s.message.id)
            elif s.state is OutboxState.DEAD:
                log.warning("message %d is a dead letter: %s", s.message.id, s.error)
            elif s.state is OutboxState.DROPPED:
                log.info("message %d dropped: %s", s.message.id, s.error)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        for channel in self.channels.values():
            channel.close()


@dataclass(frozen=True, slots=True)
class _Note:
    """What the history and the journey trace say about a message held back."""

    message: OutboxMessage
    kind: str
    reason: str
    hold: Hold

    def entry(self, at: datetime) -> HistoryEntry:
        if self.hold.until is None:
            return HistoryEntry(
                message=self.message,
                kind=MessageEvent.DROPPED,
                at=at,
                detail={"reason": self.hold.reason},
            )
        until = self.hold.until.isoformat()
        return HistoryEntry(
            message=self.message,
            kind=MessageEvent.POSTPONED,
            at=at,
            key=until,
            detail={"reason": self.hold.reason, "until": until},
        )

    def step(self, at: datetime) -> Step | None:
        m = self.message
        if m.instance_id is None or not m.journey_id or not m.profile_id:
            return None
        return Step(
            instance_id=m.instance_id,
            workspace_id=m.workspace_id,
            journey_id=m.journey_id,
            profile_id=m.profile_id,
            node=m.node or "",
            kind=self.kind,
            reason=self.reason,
            at=at,
        )


def _dead(message: OutboxMessage, reason: str) -> Settlement:
    return Settlement(message=message, state=OutboxState.DEAD, error=reason)


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
        "email": EmailChannel(
            store,
            tracker,
            timeout=settings.smtp_timeout_seconds,
            allowed_hosts=settings.webhook_allowed_hosts,
        ),
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
