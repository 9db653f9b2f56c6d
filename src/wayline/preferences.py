"""What a customer chooses: the hosted preference page and double opt-in.

Subscribing to an email group with ``double_opt_in`` records the subscription as
``pending`` and queues the group's confirmation email (transactional, so consent does
not hold it back; a suppressed address still gets nothing), whose template shows
``{{ message.confirm_url }}``; following that link (and pressing its button) makes the
subscription count. Every other subscription counts at once.

The preference page, behind a signed link of the customer's own
(``{{ message.preferences_url }}`` in every email, or ``GET
/api/v1/profiles/{id}/preferences_url``), lists the workspace's groups with the customer's
state in each and saves what they tick, group by group.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline import consent
from wayline.channels.tracking import Purpose, TokenRejected, Tracker
from wayline.store import schema
from wayline.store.outbox import NewMessage, OutboxStore
from wayline.store.sql import SqlStore
from wayline.subscription_groups import ANY_TOPIC, StoredGroup, group_for, groups


@dataclass(frozen=True, kw_only=True, slots=True)
class GroupState:
    group: StoredGroup
    #: subscribed | unsubscribed | pending
    state: str

    @property
    def key(self) -> str:
        return f"{self.group.channel}:{self.group.topic}"


class Preferences:
    def __init__(self, store: SqlStore, tracker: Tracker) -> None:
        self.store = store
        self.tracker = tracker
        self.outbox = OutboxStore(store)

    # -- choosing --------------------------------------------------------------------------

    def prepare(self, workspace_id: str) -> None:
        """Read (or create) the workspace's signing key before a transaction that may
        :meth:`subscribe`: creating it takes a write transaction of its own."""
        self.tracker.tokens.key(workspace_id)

    def subscribe(
        self,
        conn: Connection,
        workspace_id: str,
        profile_id: str,
        channel: str,
        topic: str | None,
        source: consent.Source,
        *,
        confirmed: bool = False,
    ) -> consent.Status:
        """Subscribe the customer (in ``conn``'s transaction; :meth:`prepare` first). Returns
        the status recorded: ``pending`` when a confirmation email went out (double
        opt-in) or was already due."""
        group = group_for(conn, workspace_id, channel, topic)
        exact = group if group is not None and group.topic == (topic or ANY_TOPIC) else None
        now = self.store.clock.now()
        if exact is not None and exact.double_opt_in and not confirmed:
            current = consent.status(conn, workspace_id, profile_id, channel, exact.topic)
            if current is consent.Status.SUBSCRIBED:
                return current
            changed = consent.set_status(
                conn,
                workspace_id=workspace_id,
                profile_id=profile_id,
                channel=channel,
                topic=exact.topic,
                status=consent.Status.PENDING,
                source=source,
                now=now,
            )
            if changed:
                self._queue_confirmation(conn, workspace_id, profile_id, exact)
            return consent.Status.PENDING
        consent.set_status(
            conn,
            workspace_id=workspace_id,
            profile_id=profile_id,
            channel=channel,
            topic=topic,
            status=consent.Status.SUBSCRIBED,
            source=source,
            now=now,
        )
        return consent.Status.SUBSCRIBED

    def _queue_confirmation(
        self, conn: Connection, workspace_id: str, profile_id: str, group: StoredGroup
    ) -> None:
        url = self.tracker.customer_url(
            Purpose.CONFIRM, workspace_id, profile_id, channel=group.channel, topic=group.topic
        )
        now = self.store.clock.now()
        self.outbox.add(
            conn,
            [
                NewMessage(
                    workspace_id=workspace_id,
                    idempotency_key=(
                        f"confirm:{workspace_id}:{profile_id}:{group.channel}:{group.topic}:"
                        f"{now.isoformat()}"
                    )[:255],
                    channel=group.channel,
                    profile_id=profile_id,
                    transactional=True,
                    payload={
                        "template": group.confirmation_template,
                        "transactional": True,
                        "topic": group.topic,
                        "confirm_url": url,
                        "scope": {"journey": {}, "event": {}},
                    },
                )
            ],
        )

    # -- the confirmation link -------------------------------------------------------------

    def check_confirmation(self, text: str) -> tuple[str, str, str, str]:
        """(workspace, profile, channel, topic) of a confirmation link, checked."""
        token = self.tracker.tokens.verify(text, Purpose.CONFIRM, self.store.clock.now())
        if not token.url or not token.topic:
            raise TokenRejected(400, "this link is not valid")
        if not self._exists(token.workspace_id, token.profile_id):
            raise TokenRejected(404, "this subscription is no longer known")
        return token.workspace_id, token.profile_id, token.url, token.topic

    def confirm(self, text: str) -> str:
        """Confirm the subscription of a confirmation link. Returns the group's name."""
        workspace_id, profile_id, channel, topic = self.check_confirmation(text)
        with self.store._write() as conn:
            group = group_for(conn, workspace_id, channel, topic)
            current = consent.status(conn, workspace_id, profile_id, channel, topic)
            if current is consent.Status.UNSUBSCRIBED:
                # they left the group since: an old confirmation does not bring them back
                raise TokenRejected(410, "you have unsubscribed since this email was sent")
            consent.set_status(
                conn,
                workspace_id=workspace_id,
                profile_id=profile_id,
                channel=channel,
                topic=topic,
                status=consent.Status.SUBSCRIBED,
                source=consent.Source.CONFIRMATION,
                now=self.store.clock.now(),
            )
        return group.name if group is not None else topic

    # -- the preference page ---------------------------------------------------------------

    def customer(self, text: str) -> tuple[str, str]:
        """(workspace, profile) of a preference link, checked."""
        token = self.tracker.tokens.verify(text, Purpose.PREFERENCES, self.store.clock.now())
        if not self._exists(token.workspace_id, token.profile_id):
            raise TokenRejected(404, "this page is no longer available")
        return token.workspace_id, token.profile_id

    def states(self, workspace_id: str, profile_id: str) -> list[GroupState]:
        with self.store.engine.connect() as conn:
            return self._states(conn, workspace_id, profile_id)

    def _states(self, conn: Connection, workspace_id: str, profile_id: str) -> list[GroupState]:
        found = []
        for group in groups(conn, workspace_id):
            everything = consent.status(conn, workspace_id, profile_id, group.channel, ANY_TOPIC)
            own = consent.status(conn, workspace_id, profile_id, group.channel, group.topic)
            if everything is consent.Status.UNSUBSCRIBED or own is consent.Status.UNSUBSCRIBED:
                state = consent.Status.UNSUBSCRIBED
            elif own is not None:
                state = own
            else:
                state = consent.Status.UNSUBSCRIBED if group.opt_in else consent.Status.SUBSCRIBED
            found.append(GroupState(group=group, state=state.value))
        return found

    def save(self, text: str, chosen: set[str], *, everything: bool = False) -> list[GroupState]:
        """Save the page: each group ticked (``channel:topic``) is subscribed, each other
        one unsubscribed. A ticked group of a channel the customer left as a whole
        subscribes them to that channel again. ``everything``: unsubscribe from every
        marketing message of each channel the page lists."""
        workspace_id, profile_id = self.customer(text)
        self.prepare(workspace_id)
        now = self.store.clock.now()
        with self.store._write() as conn:
            if everything:
                chosen = set()
                for channel in sorted({g.channel for g in groups(conn, workspace_id)}):
                    consent.set_status(
                        conn,
                        workspace_id=workspace_id,
                        profile_id=profile_id,
                        channel=channel,
                        topic=ANY_TOPIC,
                        status=consent.Status.UNSUBSCRIBED,
                        source=consent.Source.PREFERENCES,
                        now=now,
                    )
            for item in self._states(conn, workspace_id, profile_id):
                group, wanted = item.group, item.key in chosen
                if wanted and item.state == consent.Status.UNSUBSCRIBED.value:
                    if group.topic != ANY_TOPIC:
                        self._rejoin_channel(conn, workspace_id, profile_id, group.channel)
                    self.subscribe(
                        conn,
                        workspace_id,
                        profile_id,
                        group.channel,
                        group.topic,
                        consent.Source.PREFERENCES,
                    )
                elif not wanted and item.state != consent.Status.UNSUBSCRIBED.value:
                    consent.set_status(
                        conn,
                        workspace_id=workspace_id,
                        profile_id=profile_id,
                        channel=group.channel,
                        topic=group.topic,
                        status=consent.Status.UNSUBSCRIBED,
                        source=consent.Source.PREFERENCES,
                        now=now,
                    )
            return self._states(conn, workspace_id, profile_id)

    def _rejoin_channel(
        self, conn: Connection, workspace_id: str, profile_id: str, channel: str
    ) -> None:
        if (
            consent.status(conn, workspace_id, profile_id, channel, ANY_TOPIC)
            is consent.Status.UNSUBSCRIBED
        ):
            consent.set_status(
                conn,
                workspace_id=workspace_id,
                profile_id=profile_id,
                channel=channel,
                topic=ANY_TOPIC,
                status=consent.Status.SUBSCRIBED,
                source=consent.Source.PREFERENCES,
                now=self.store.clock.now(),
            )

    def _exists(self, workspace_id: str, profile_id: str) -> bool:
        p = schema.profiles
        with self.store.engine.connect() as conn:
            found = conn.scalar(
                sa.select(p.c.id).where(p.c.id == profile_id, p.c.workspace_id == workspace_id)
            )
        return found is not None
