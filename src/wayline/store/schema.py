"""The state store's tables (SQLAlchemy Core). Column names are persisted: choose with care.

Every table of customer data carries ``workspace_id``; nothing is shared across workspaces.
Changes to these tables ship as an Alembic migration in ``migrations/versions``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from wayline.store.secret_box import EncryptedText

metadata = sa.MetaData()


class UtcDateTime(sa.TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite keeps no time zone of its own)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: A 64-bit key that is SQLite's rowid on SQLite (so that it autoincrements there).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), nullable=False),
    #: write_key | admin_token
    sa.Column("kind", sa.String(20), nullable=False),
    #: SHA-256 of the secret; the secret itself is shown once and never stored.
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    #: The first characters of the secret, to tell keys apart in listings.
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    sa.Column("message_id", sa.String(255), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("event", sa.String(255), nullable=True),
    sa.Column("user_id", sa.String(255), nullable=True),
    sa.Column("anonymous_id", sa.String(255), nullable=True),
    sa.Column("timestamp", UtcDateTime(), nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("payload", sa.LargeBinary(), nullable=False),
    #: PostgreSQL: the writing transaction's id, so that consumers never pass over a row
    #: whose transaction commits after a later one. Empty on SQLite (one writer at a time).
    sa.Column("txid", sa.BigInteger(), nullable=True),
    sa.UniqueConstraint("workspace_id", "message_id", name="uq_inbox_message"),
    sa.Index("ix_inbox_user", "workspace_id", "user_id"),
    sa.Index("ix_inbox_anonymous", "workspace_id", "anonymous_id"),
    #: never reuse a seq (an erase may delete the latest rows): consumers' cursors pass it
    sqlite_autoincrement=True,
)

rejections = sa.Table(
    "rejections",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    #: api | import
    sa.Column("source", sa.String(16), nullable=False),
    #: The item's index in its batch, or its line in an imported file.
    sa.Column("position", sa.Integer(), nullable=True),
    sa.Column("message_id", sa.String(255), nullable=True),
    sa.Column("field", sa.String(100), nullable=False),
    sa.Column("error", sa.Text(), nullable=False),
    #: The rejected item as sent, cut to 32 KB.
    sa.Column("payload", sa.LargeBinary(), nullable=True),
    #: The ids the item carries (read from the payload), so that an erase finds it.
    sa.Column("user_id", sa.String(255), nullable=True),
    sa.Column("anonymous_id", sa.String(255), nullable=True),
    #: Lower case, as identities keep it.
    sa.Column("email", sa.String(255), nullable=True),
    sa.Index("ix_rejections_workspace", "workspace_id", "id"),
    sa.Index("ix_rejections_user", "workspace_id", "user_id"),
    sa.Index("ix_rejections_anonymous", "workspace_id", "anonymous_id"),
    sa.Index("ix_rejections_email", "workspace_id", "email"),
)

profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    #: JSON object of the current traits.
    sa.Column("traits", sa.Text(), nullable=False),
    #: JSON object: trait name -> ISO time of the event that set it (last write wins).
    sa.Column("trait_times", sa.Text(), nullable=False),
    #: Event time of the call that created the profile. First and last seen are read from
    #: the profile's events, so that an ordinary event never has to rewrite its profile.
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index("ix_profiles_workspace", "workspace_id"),
)

identities = sa.Table(
    "identities",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    #: user_id | anonymous_id | email | phone
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("value", sa.String(255), primary_key=True),
    sa.Column("profile_id", sa.String(40), nullable=False),
    sa.Column("first_seen", UtcDateTime(), nullable=False),
    sa.Index("ix_identities_profile", "profile_id"),
)

profile_merges = sa.Table(
    "profile_merges",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    sa.Column("from_profile_id", sa.String(40), nullable=False),
    sa.Column("into_profile_id", sa.String(40), nullable=False),
    sa.Column("merged_at", UtcDateTime(), nullable=False),
    #: The message that joined the two identities.
    sa.Column("message_id", sa.String(255), nullable=False),
    sa.Index("ix_profile_merges_from", "workspace_id", "from_profile_id"),
)

counters = sa.Table(
    "counters",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    #: events | profiles
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("value", sa.BigInteger(), nullable=False),
)

consumer_cursors = sa.Table(
    "consumer_cursors",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("txid", sa.BigInteger(), nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

erasures = sa.Table(
    "erasures",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    sa.Column("requested_at", UtcDateTime(), nullable=False),
    #: JSON list of [kind, value]: the identities whose warehouse rows are still to go.
    #: Deleted as soon as the warehouse has applied it.
    sa.Column("identities", sa.Text(), nullable=False),
)

# -- journeys ------------------------------------------------------------------------------

journeys = sa.Table(
    "journeys",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    sa.Column("journey_id", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    #: active | paused | archived
    sa.Column("status", sa.String(16), nullable=False),
    #: The version new customers enter.
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

journey_versions = sa.Table(
    "journey_versions",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    sa.Column("journey_id", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    #: The spec as JSON; a version never changes once stored.
    sa.Column("spec", sa.Text(), nullable=False),
    #: SHA-256 of the canonical spec: applying an unchanged file stores nothing.
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

journey_instances = sa.Table(
    "journey_instances",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    sa.Column("journey_id", sa.String(100), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("profile_id", sa.String(40), nullable=False),
    #: The correlation key of the entry (e.g. the cart id); empty when the entry has none.
    sa.Column("entry_key", sa.String(255), nullable=False),
    #: The node the customer is at.
    sa.Column("node", sa.String(100), nullable=False),
    #: ready (a worker should advance it) | waiting | done
    sa.Column("state", sa.String(16), nullable=False),
    #: completed | exited | goal | failed | moved (to another journey), once done
    sa.Column("outcome", sa.String(16), nullable=True),
    #: When a worker should look at it: now for ready, the timeout for a wait, else empty.
    sa.Column("wake_at", UtcDateTime(), nullable=True),
    #: JSON: the entry key, the triggering event, split variants, webhook responses.
    sa.Column("context", sa.Text(), nullable=False),
    sa.Column("entered_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Index("ix_journey_instances_due", "wake_at"),
    sa.Index("ix_journey_instances_profile", "workspace_id", "journey_id", "profile_id"),
)

journey_waits = sa.Table(
    "journey_waits",
    metadata,
    sa.Column("instance_id", sa.BigInteger(), primary_key=True),
    #: wait (wait_for_event) | goal | exitN (the Nth exit_when condition, from 0)
    sa.Column("kind", sa.String(8), primary_key=True),
    sa.Column("event", sa.String(255), primary_key=True),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    #: Which property of the event must match (e.g. properties.cart_id); empty means the
    #: event must come from the same customer.
    sa.Column("key_path", sa.String(200), nullable=False),
    #: The value it must have: the instance's key, or its profile id when key_path is empty.
    sa.Column("key_value", sa.String(255), nullable=False),
    sa.Index("ix_journey_waits_match", "workspace_id", "event", "key_path", "key_value"),
)

journey_enrolments = sa.Table(
    "journey_enrolments",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    sa.Column("journey_id", sa.String(100), primary_key=True),
    sa.Column("profile_id", sa.String(40), primary_key=True),
    sa.Column("entry_key", sa.String(255), primary_key=True),
    sa.Column("entries", sa.Integer(), nullable=False),
    sa.Column("last_entered_at", UtcDateTime(), nullable=False),
    #: The instance inside the journey now, if any: one at a time per customer and key.
    sa.Column("active_instance_id", sa.BigInteger(), nullable=True),
)

#: Every (workspace, event, key path) some wait has used: the trigger consumer's list of
#: what to look up for an event. Rows are only added (a stale one costs one index probe).
journey_wait_paths = sa.Table(
    "journey_wait_paths",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    sa.Column("event", sa.String(255), primary_key=True),
    sa.Column("key_path", sa.String(200), primary_key=True),
)
journey_steps = sa.Table(
    "journey_steps",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    sa.Column("instance_id", sa.BigInteger(), nullable=False),
    sa.Column("journey_id", sa.String(100), nullable=False),
    sa.Column("profile_id", sa.String(40), nullable=False),
    sa.Column("node", sa.String(100), nullable=False),
    #: entered | passed | branched | waiting | resumed | timed_out | queued | postponed |
    #: dropped | updated (profile) | goal | moved (to another version or journey) | exited |
    #: completed | failed
    sa.Column("kind", sa.String(16), nullable=False),
    #: Why, in words a person reads in a trace.
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Index("ix_journey_steps_instance", "instance_id", "id"),
    sa.Index("ix_journey_steps_journey", "workspace_id", "journey_id", "node"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    #: One message per (instance, node, visit): a retried step writes nothing new.
    sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
    sa.Column("instance_id", sa.BigInteger(), nullable=True),
    sa.Column("journey_id", sa.String(100), nullable=True),
    sa.Column("node", sa.String(100), nullable=True),
    sa.Column("profile_id", sa.String(40), nullable=True),
    #: log | webhook | email | sms | inapp
    sa.Column("channel", sa.String(16), nullable=False),
    #: JSON: what to deliver (rendered body, url, headers, template, …).
    sa.Column("payload", sa.Text(), nullable=False),
    #: pending | sending (claimed by a dispatcher until next_attempt_at) | sent | dead |
    #: dropped (not sent on purpose: the customer unsubscribed)
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    #: pending: not before this time; sending: the claim lapses at this time.
    sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    #: JSON: the channel's answer (e.g. the webhook response), once sent.
    sa.Column("result", sa.Text(), nullable=True),
    #: A message the customer asked for (a receipt): exempt from frequency caps.
    sa.Column("transactional", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Index("ix_outbox_due", "state", "next_attempt_at"),
    #: Frequency caps count a customer's recent messages on a channel through this index.
    sa.Index("ix_outbox_profile_channel", "workspace_id", "profile_id", "channel", "created_at"),
    #: A journey's send_rate counts its recent messages through this one.
    sa.Index("ix_outbox_journey", "workspace_id", "journey_id", "created_at"),
    #: never reuse an id: tracking links of an erased customer's messages carry theirs
    sqlite_autoincrement=True,
)

#: A workspace's global controls (frequency caps, quiet hours), as validated JSON.
workspace_controls = sa.Table(
    "workspace_controls",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    sa.Column("spec", sa.Text(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

#: The web origins whose pages may send a workspace's events from the browser; a workspace
#: without rows accepts any origin (as Segment does: the write key is public anyway).
workspace_origins = sa.Table(
    "workspace_origins",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    sa.Column("origin", sa.String(255), primary_key=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

workspace_secrets = sa.Table(
    "workspace_secrets",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    #: webhook_signing (Standard Webhooks, "whsec_…")
    sa.Column("name", sa.String(40), primary_key=True),
    #: Encrypted with the store's secret key (``fernet:…``); a value without the prefix was
    #: kept in clear by an earlier version. Never logged, never in the API.
    sa.Column("value", EncryptedText(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

journey_schedule_runs = sa.Table(
    "journey_schedule_runs",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    sa.Column("journey_id", sa.String(100), primary_key=True),
    #: The occurrence: its UTC moment (ISO 8601), or for ``timezone: customer`` the local
    #: wall time every customer enters at. Its row is what makes it fire once only.
    sa.Column("occurrence", sa.String(40), primary_key=True),
    #: The journey version customers enter.
    sa.Column("version", sa.Integer(), nullable=False),
    #: running (customers still to enrol) | done
    sa.Column("state", sa.String(16), nullable=False),
    #: The last profile id taken (the audience is enrolled in id order): where to go on.
    sa.Column("cursor", sa.String(40), nullable=False),
    sa.Column("entered", sa.Integer(), nullable=False),
    #: Customers the re-entry policy kept out.
    sa.Column("refused", sa.Integer(), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime(), nullable=True),
    sa.Index("ix_journey_schedule_runs_state", "state"),
)


message_templates = sa.Table(
    "message_templates",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    #: 1, 2, …: applying a changed template stores the next version; the latest is used.
    sa.Column("version", sa.Integer(), primary_key=True),
    #: email | sms | …
    sa.Column("channel", sa.String(16), nullable=False),
    #: JSON: the template as applied (subject, preheader, mjml or html, text, …).
    sa.Column("spec", sa.Text(), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

workspace_variables = sa.Table(
    "workspace_variables",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    #: Seen by templates as ``workspace.NAME``.
    sa.Column("name", sa.String(100), primary_key=True),
    #: JSON: any value (text, number, list, object).
    sa.Column("value", sa.Text(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

channel_configs = sa.Table(
    "channel_configs",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    #: email | sms | …
    sa.Column("channel", sa.String(16), primary_key=True),
    #: JSON: host, port, sender, … — never a secret (those live in workspace_secrets).
    sa.Column("config", sa.Text(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    sa.Column("profile_id", sa.String(40), primary_key=True),
    #: email | sms | …
    sa.Column("channel", sa.String(16), primary_key=True),
    #: The subscription topic; ``*`` stands for every marketing message of the channel.
    sa.Column("topic", sa.String(100), primary_key=True),
    #: subscribed | unsubscribed | pending (double opt-in: waiting for confirmation)
    sa.Column("status", sa.String(16), nullable=False),
    #: How it was set: one_click (RFC 8058 POST) | link (the visible link) | api | import |
    #: preferences (the hosted preference page) | confirmation (the double opt-in link).
    sa.Column("source", sa.String(40), nullable=False),
    #: The outbox message whose link set it, if any.
    sa.Column("message_id", sa.BigInteger(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

message_events = sa.Table(
    "message_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    #: The outbox message this happened to.
    sa.Column("message_id", sa.BigInteger(), nullable=False),
    sa.Column("instance_id", sa.BigInteger(), nullable=True),
    sa.Column("node", sa.String(100), nullable=True),
    sa.Column("profile_id", sa.String(40), nullable=True),
    #: sent | failed | dropped | delivered | bounced | complained | opened | clicked |
    #: unsubscribed
    sa.Column("kind", sa.String(16), nullable=False),
    #: Tells apart repeats that count (one per link clicked); empty otherwise.
    sa.Column("key", sa.String(64), nullable=False),
    #: JSON: what there is to know (the link, the SMTP answer, the reason).
    sa.Column("detail", sa.Text(), nullable=True),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("message_id", "kind", "key", name="uq_message_events_once"),
    sa.Index("ix_message_events_instance", "instance_id", "node"),
    sa.Index("ix_message_events_profile", "workspace_id", "profile_id"),
)

# -- in-app content ------------------------------------------------------------------------

content_items = sa.Table(
    "content_items",
    metadata,
    #: The outbox message that delivered it: one item per message, stored once.
    sa.Column("message_id", sa.BigInteger(), primary_key=True),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    sa.Column("profile_id", sa.String(40), nullable=False),
    #: Where on the site or app it shows (``home-hero``).
    sa.Column("placement", sa.String(100), nullable=False),
    sa.Column("template", sa.String(100), nullable=False),
    sa.Column("template_version", sa.Integer(), nullable=False),
    sa.Column("journey_id", sa.String(100), nullable=True),
    sa.Column("node", sa.String(100), nullable=True),
    #: Higher first; among equals the newest.
    sa.Column("priority", sa.Integer(), nullable=False),
    #: JSON: ``{"content": {…}, "html": "…"}`` as rendered for the customer.
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    #: Not served from this time on; empty: until replaced or dismissed.
    sa.Column("expires_at", UtcDateTime(), nullable=True),
    #: Dismissed by the customer: never served again.
    sa.Column("dismissed_at", UtcDateTime(), nullable=True),
    #: First returned to the customer's browser or app.
    sa.Column("served_at", UtcDateTime(), nullable=True),
    sa.Index("ix_content_items_profile", "workspace_id", "profile_id", "placement"),
)

content_placements = sa.Table(
    "content_placements",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    #: JSON: the placement as applied (its default rules).
    sa.Column("spec", sa.Text(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)


# -- segments ------------------------------------------------------------------------------

segments = sa.Table(
    "segments",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    sa.Column("segment_id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    #: JSON: the segment as stored (durations as ``7d``), re-validated when read.
    sa.Column("spec", sa.Text(), nullable=False),
    #: SHA-256 of the spec: applying the same file again changes nothing.
    sa.Column("digest", sa.String(64), nullable=False),
    #: Bumped by every change of the spec.
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

segment_members = sa.Table(
    "segment_members",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    sa.Column("segment_id", sa.String(128), primary_key=True),
    sa.Column("profile_id", sa.String(40), primary_key=True),
    #: When the customer entered (the moment membership changed).
    sa.Column("entered_at", UtcDateTime(), nullable=False),
    sa.Index("ix_segment_members_profile", "workspace_id", "profile_id"),
)

segment_changes = sa.Table(
    "segment_changes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    sa.Column("segment_id", sa.String(128), nullable=False),
    sa.Column("profile_id", sa.String(40), nullable=False),
    #: entered | exited
    sa.Column("kind", sa.String(8), nullable=False),
    #: The moment membership changed (the ``timestamp`` of the event it becomes).
    sa.Column("at", UtcDateTime(), nullable=False),
    #: True until its Segment Entered / Segment Exited event is in the inbox. Changes of a
    #: backfill (a new segment filled from history) are recorded but never sent.
    sa.Column("pending", sa.Boolean(), nullable=False),
    sa.Index("ix_segment_changes_segment", "workspace_id", "segment_id", "at"),
    sa.Index("ix_segment_changes_pending", "pending"),
)

segment_rechecks = sa.Table(
    "segment_rechecks",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    sa.Column("profile_id", sa.String(40), primary_key=True),
    #: The earliest moment one of the customer's memberships may change with no new event.
    sa.Column("due_at", UtcDateTime(), nullable=False),
    sa.Index("ix_segment_rechecks_due", "due_at"),
)


#: The workspace's subscription groups (from its groups file): per channel and topic,
#: whether customers receive its marketing messages without asking (opt_out) or only
#: once they subscribed (opt_in). Replaced whole when the file is applied.
subscription_groups = sa.Table(
    "subscription_groups",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    #: email | sms
    sa.Column("channel", sa.String(16), primary_key=True),
    #: The ``topic`` of send nodes; ``*`` for the channel's messages without a group.
    sa.Column("topic", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    #: opt_in | opt_out
    sa.Column("default_consent", sa.String(8), nullable=False),
    #: Email opt-in groups: a subscription waits for the confirmation link.
    sa.Column("double_opt_in", sa.Boolean(), nullable=False),
    #: The email template of the confirmation message (double opt-in).
    sa.Column("confirmation_template", sa.String(100), nullable=True),
    #: The group's place on the preference page.
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

#: Addresses nothing is sent to (hard bounces, complaints, manual, erased customers).
suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    #: email | sms
    sa.Column("channel", sa.String(16), primary_key=True),
    #: SHA-256 of the workspace's salt and the normalised address: what sends are checked by.
    sa.Column("address_hash", sa.String(64), primary_key=True),
    #: The address itself; empty once its customer was erased (only the hash is kept).
    sa.Column("address", sa.String(255), nullable=True),
    #: hard_bounce | complaint | manual | erased
    sa.Column("reason", sa.String(16), nullable=False),
    #: What the provider or the admin said (the bounce's diagnostic, a note).
    sa.Column("detail", sa.Text(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

#: Each workspace's stage model (``wayline stages apply``): which events and traits place
#: a customer in which lifecycle stage.
stage_models = sa.Table(
    "stage_models",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    #: The model as written (YAML).
    sa.Column("spec", sa.Text(), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    #: JSON: stage -> typical seconds in it (median, of customers who moved on), worked out
    #: from history when the model was applied; what ``stall_factor`` multiplies.
    sa.Column("typical", sa.Text(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

#: Each customer's current stage: the furthest stage of the model they have entered.
customer_stages = sa.Table(
    "customer_stages",
    metadata,
    sa.Column("workspace_id", sa.String(40), primary_key=True),
    sa.Column("profile_id", sa.String(40), primary_key=True),
    sa.Column("stage", sa.String(64), nullable=False),
    #: The moment of the event (or identify) that placed the customer in the stage.
    sa.Column("entered_at", UtcDateTime(), nullable=False),
    #: The stage they were in before (null: none).
    sa.Column("previous_stage", sa.String(64), nullable=True),
    sa.Index("ix_customer_stages_stage", "workspace_id", "stage"),
)

#: Every stage change seen as events arrived; each becomes a ``Stage Entered`` event.
stage_changes = sa.Table(
    "stage_changes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    sa.Column("profile_id", sa.String(40), nullable=False),
    sa.Column("stage", sa.String(64), nullable=False),
    sa.Column("previous_stage", sa.String(64), nullable=True),
    #: Seconds spent in ``previous_stage`` (null: none).
    sa.Column("previous_stage_duration", sa.Float(), nullable=True),
    #: The moment of the event that caused the change (the ``timestamp`` of its event).
    sa.Column("at", UtcDateTime(), nullable=False),
    #: True until its Stage Entered event is in the inbox.
    sa.Column("pending", sa.Boolean(), nullable=False),
    sa.Index("ix_stage_changes_profile", "workspace_id", "profile_id", "at"),
    sa.Index("ix_stage_changes_pending", "pending"),
    # an id is never reused (an erased customer's changes may have been the latest): the
    # message id of a Stage Entered event is derived from it
    sqlite_autoincrement=True,
)

#: Inbox rows a consumer could not process: set aside with their error so that the rows
#: after them flow on (``wayline deadletters``).
dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    #: The consumer that failed on the row (profiles, loader, segments, stages, triggers).
    sa.Column("consumer", sa.String(64), nullable=False),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    #: The inbox row: its sequence number and transaction id.
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("txid", sa.BigInteger(), nullable=False),
    sa.Column("message_id", sa.String(255), nullable=False),
    #: The error's first line, then the tail of its traceback.
    sa.Column("error", sa.Text(), nullable=False),
    #: How many times the row was tried and failed.
    sa.Column("attempts", sa.Integer(), nullable=False),
    #: parked | retry
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("consumer", "seq", name="uq_dead_letters_consumer_seq"),
    sa.Index("ix_dead_letters_workspace", "workspace_id", "id"),
    sqlite_autoincrement=True,
)
