"""Channels deliver outbox messages (log, webhook, email, SMS, in-app content), and the
dispatcher feeds them."""

from __future__ import annotations
