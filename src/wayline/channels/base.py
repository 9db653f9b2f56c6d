"""What a channel is: something that tries to deliver one outbox message and says how it went.

Channels are synchronous. The runtime's loops are threads over a synchronous store, and the
clients the channels need block anyway (SMTP, the DNS lookups of the webhook guard); the
dispatcher gets concurrency from a bounded thread pool instead of running an event loop per
dispatcher thread with async clients bound to it. A channel must therefore be safe to call
from several threads at once.

A channel may also have ``prepare(messages)``, which the dispatcher calls (when present)
with each batch's messages for that channel before delivering them, from one thread: a
chance to read what the batch needs in a few queries rather than message by message (the
email channel does). It is an optimisation only: ``deliver`` must work without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Protocol

from wayline.store.outbox import OutboxMessage


class Outcome(StrEnum):
    #: Delivered.
    OK = "ok"
    #: Not delivered this time; trying again later may work (timeouts, 429, 5xx).
    TRANSIENT = "transient"
    #: Not delivered, and trying again would not change that (bad target, 4xx, refused).
    PERMANENT = "permanent"


@dataclass(frozen=True, kw_only=True, slots=True)
class Delivery:
    """How one delivery attempt went."""

    outcome: Outcome
    #: The channel's answer (JSON-serialisable), kept with the message once it is sent.
    result: Any = None
    #: Why it failed, in words an operator reads in the dead letters.
    error: str = ""
    #: The target asked not to be tried again before this long (transient failures).
    retry_after: timedelta | None = None

    @classmethod
    def ok(cls, result: Any = None) -> Delivery:
        return cls(outcome=Outcome.OK, result=result)

    @classmethod
    def transient(cls, error: str, *, retry_after: timedelta | None = None) -> Delivery:
        return cls(outcome=Outcome.TRANSIENT, error=error, retry_after=retry_after)

    @classmethod
    def permanent(cls, error: str) -> Delivery:
        return cls(outcome=Outcome.PERMANENT, error=error)


class Channel(Protocol):
    def deliver(self, message: OutboxMessage) -> Delivery:
        """Try once. Failures are returned, not raised; an exception counts as transient."""
        ...

    def close(self) -> None:
        """Release connections; called once when the dispatcher stops."""
        ...
