"""Identity verification for the content API: proof that a browser asking for a
``userId``'s content was given that id by the site's own backend.

The write key is public, so without it anyone who knows a customer's ``userId`` could read
that customer's in-app content. A workspace that turns verification on gives Wayline a
secret its backend shares: the backend computes ``userHash = hex(HMAC-SHA256(secret,
userId))`` when it renders the page, and the browser sends it with the ``userId`` (as
Intercom's identity verification does). Then a ``userId`` without its hash is refused, and
an ``anonymousId`` reaches only a profile that no ``userId`` is known for (an anonymous
visitor), or the verified user's own.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import BaseModel, ConfigDict, Field

from wayline.channels.config import ChannelConfigs
from wayline.channels.secrets import stored_secret
from wayline.store.sql import SqlStore

#: The name of the shared secret in ``workspace_secrets``.
INAPP_IDENTITY_SECRET = "inapp_identity_secret"


class InAppSettings(BaseModel):
    """A workspace's in-app settings (``PUT /api/v1/channels/inapp``); the secret apart."""

    model_config = ConfigDict(extra="forbid")

    verify_users: bool = False
    """Refuse a ``userId`` without its ``userHash``."""


class InAppSetup(InAppSettings):
    identity_secret: str | None = Field(None, min_length=32, max_length=200)
    """The secret the site's backend signs user ids with (kept, never shown)."""


def user_hash(secret: str, user_id: str) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


class Verifier:
    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.configs = ChannelConfigs(store)

    def required(self, workspace_id: str) -> bool:
        found = self.configs.get(workspace_id, "inapp")
        return found is not None and InAppSettings.model_validate(found).verify_users

    def check(self, workspace_id: str, user_id: str, given: str | None) -> bool:
        """Whether ``given`` is the user id's hash under the workspace's secret."""
        secret = stored_secret(self.store, workspace_id, INAPP_IDENTITY_SECRET)
        if secret is None or not given:
            return False
        return hmac.compare_digest(user_hash(secret, user_id), given.lower())
