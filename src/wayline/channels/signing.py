"""Standard Webhooks signatures (https://www.standardwebhooks.com), so that receivers can
use any of that spec's libraries to check that a request comes from their Wayline.

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; the key is the base64
part of the ``whsec_…`` secret, decoded; the signature is ``v1,`` + base64 of its
HMAC-SHA256. The id is the message's idempotency key, the same on every retry, so that a
receiver can drop a delivery it has already processed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(os.urandom(32)).decode()


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }
