"""Channels deliver outbox messages (log, webhook; email, SMS and in-app to come), and the
dispatcher feeds them."""

from __future__ import annotations
