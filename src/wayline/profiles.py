"""Identity resolution and trait merging: inbox events become profiles.

Rules (documented in docs/identity.md):

* A profile is known by its identities: ``user_id``, ``anonymous_id``, ``email``, ``phone``.
* A call carrying both a userId and an anonymousId links them. If the anonymousId's profile
  has no userId of its own, it is merged into the userId's profile (the userId's survives).
  If it already belongs to a different userId (a shared device), nothing merges: the call is
  attributed to its userId and the anonymousId stays where it was.
* ``alias`` says two ids are one person: the previousId's profile always merges into the
  userId's, even when both carry userIds.
* Traits merge by event time: for each trait, the value from the latest event wins; on a tie
  the later-processed call wins. When profiles merge, each trait keeps the newer value.
  Traits come from ``identify`` (``traits``) and from any call's ``context.traits``.
* ``traits.email`` and ``traits.phone`` are indexed as external ids, so a profile can be
  found by them. They never merge profiles: an address given by two profiles points at the
  one that gave it last.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from wayline.addresses import email_address, normalise_phone, text_of
from wayline.errors import ConsumerConflict
from wayline.store.base import (
    Identity,
    IdentityBatch,
    IdentityChanges,
    IdentityKind,
    InboxEvent,
    Merge,
    Profile,
    Store,
)

if TYPE_CHECKING:
    from wayline.store.dead_letters import DeadLetterStore

Key = tuple[str, str, str]  # (workspace, kind, value)

USER = IdentityKind.USER_ID.value
ANON = IdentityKind.ANONYMOUS_ID.value
EMAIL = IdentityKind.EMAIL.value
PHONE = IdentityKind.PHONE.value


def _external_keys(workspace_id: str, traits: dict[str, Any]) -> list[Key]:
    keys = []
    if (email := email_address(traits.get("email"))) is not None:
        keys.append((workspace_id, EMAIL, email))
    if (phone := normalise_phone(traits.get("phone"))) is not None:
        keys.append((workspace_id, PHONE, phone))
    return keys


@dataclass(slots=True)
class _Parsed:
    event: InboxEvent
    user_id: str | None
    anonymous_id: str | None
    previous_id: str | None
    traits: dict[str, Any]


def _parse(event: InboxEvent) -> _Parsed:
    message = orjson.loads(event.payload)
    traits: dict[str, Any] = {}
    context = message.get("context")
    if isinstance(context, dict) and isinstance(context.get("traits"), dict):
        traits.update(context["traits"])
    if event.type == "identify" and isinstance(message.get("traits"), dict):
        traits.update(message["traits"])
    return _Parsed(
        event=event,
        user_id=event.user_id,
        anonymous_id=event.anonymous_id,
        previous_id=text_of(message.get("previousId")) if event.type == "alias" else None,
        traits=traits,
    )


@dataclass(slots=True)
class IdentityGraph:
    """The slice of the identity graph a batch touches, changed in memory, then saved."""

    owners: dict[Key, str]
    #: Loads stored profiles by id, when a call needs one (traits to set, a merge).
    load: Callable[[set[str]], dict[str, Profile]]
    profiles: dict[str, Profile] = field(default_factory=dict)
    changes: IdentityChanges = field(default_factory=IdentityChanges)
    _dirty_profiles: set[str] = field(default_factory=set)
    _dirty_keys: set[Key] = field(default_factory=set)
    _new: set[str] = field(default_factory=set)
    #: Profiles that carry at least one userId.
    user_profiles: set[str] = field(default_factory=set)

    def has_user(self, profile_id: str) -> bool:
        return profile_id in self.user_profiles

    def _link(self, key: Key, profile_id: str) -> None:
        if key[1] == USER:
            self.user_profiles.add(profile_id)
        if self.owners.get(key) != profile_id:
            self.owners[key] = profile_id
            self._dirty_keys.add(key)

    def _get(self, profile_id: str) -> Profile:
        if profile_id not in self.profiles:
            self.profiles.update(self.load({profile_id}))
        return self.profiles[profile_id]

    def preload(self, profile_ids: set[str]) -> None:
        missing = profile_ids - self.profiles.keys()
        if missing:
            self.profiles.update(self.load(missing))

    def _new_profile(self, workspace_id: str, at: datetime) -> Profile:
        profile = Profile(
            id=uuid.uuid4().hex,
            workspace_id=workspace_id,
            traits={},
            trait_times={},
            created_at=at,
            updated_at=at,
        )
        self.profiles[profile.id] = profile
        self._dirty_profiles.add(profile.id)
        self._new.add(profile.id)
        return profile

    def _merge(self, source_id: str, target_id: str, event: InboxEvent) -> None:
        source, target = self._get(source_id), self._get(target_id)
        for name, value in source.traits.items():
            when = source.trait_times.get(name, "")
            if name not in target.traits or when > target.trait_times.get(name, ""):
                target.traits[name] = value
                target.trait_times[name] = when
        target.created_at = min(target.created_at, source.created_at)
        for key, owner in list(self.owners.items()):
            if owner == source_id:
                self.owners[key] = target_id  # the store repoints every identity of source
        del self.profiles[source_id]
        if source_id in self.user_profiles:
            self.user_profiles.add(target_id)
        self._dirty_profiles.discard(source_id)
        self._dirty_profiles.add(target_id)
        self.changes.merges.append(
            Merge(
                workspace_id=event.workspace_id,
                from_profile_id=source_id,
                into_profile_id=target_id,
                merged_at=event.timestamp,
                message_id=event.message_id,
            )
        )

    def apply(self, parsed: _Parsed) -> str:
        """Attribute one event to a profile, linking and merging as the rules say."""
        event = parsed.event
        ws = event.workspace_id
        user_key = (ws, USER, parsed.user_id) if parsed.user_id else None
        anon_key = (ws, ANON, parsed.anonymous_id) if parsed.anonymous_id else None
        user_profile = self.owners.get(user_key) if user_key else None

        if parsed.previous_id is not None and user_key is not None:
            prev_key = next(
                (
                    k
                    for k in ((ws, USER, parsed.previous_id), (ws, ANON, parsed.previous_id))
                    if k in self.owners
                ),
                (ws, ANON, parsed.previous_id),
            )
            prev_profile = self.owners.get(prev_key)
            if user_profile is None:
                user_profile = prev_profile or self._new_profile(ws, event.timestamp).id
                self._link(user_key, user_profile)
            elif prev_profile is not None and prev_profile != user_profile:
                self._merge(prev_profile, user_profile, event)
            self._link(prev_key, user_profile)
            anon_key = None  # an alias's anonymousId names the sender, not the person

        anon_profile = self.owners.get(anon_key) if anon_key else None
        if user_key is not None:
            if user_profile is None:
                if anon_profile is not None and not self.has_user(anon_profile):
                    user_profile = anon_profile
                else:
                    user_profile = self._new_profile(ws, event.timestamp).id
                self._link(user_key, user_profile)
            if anon_key is not None:
                if anon_profile is None:
                    self._link(anon_key, user_profile)
                elif anon_profile != user_profile and not self.has_user(anon_profile):
                    self._merge(anon_profile, user_profile, event)
            profile_id = user_profile
        else:
            assert anon_key is not None
            if anon_profile is None:
                anon_profile = self._new_profile(ws, event.timestamp).id
                self._link(anon_key, anon_profile)
            profile_id = anon_profile

        if parsed.traits:
            self._set_traits(self._get(profile_id), event.timestamp, parsed.traits)
        for key in _external_keys(ws, parsed.traits):
            self._link(key, profile_id)
        return profile_id

    def _set_traits(self, profile: Profile, at: datetime, traits: dict[str, Any]) -> None:
        changed = False
        when = at.isoformat()
        for name, value in traits.items():
            if when >= profile.trait_times.get(name, ""):
                if profile.traits.get(name, ...) != value or name not in profile.trait_times:
                    changed = True
                profile.traits[name] = value
                profile.trait_times[name] = when
        if changed:
            self._dirty_profiles.add(profile.id)

    def finish(self) -> IdentityChanges:
        self.changes.profiles = [
            self.profiles[p] for p in sorted(self._dirty_profiles) if p in self.profiles
        ]
        self.changes.new_ids = set(self._new)
        for p in self.changes.profiles:
            if p.id in self._new:
                created = self.changes.created
                created[p.workspace_id] = created.get(p.workspace_id, 0) + 1
        self.changes.identities = [
            Identity(
                workspace_id=k[0], kind=IdentityKind(k[1]), value=k[2], profile_id=self.owners[k]
            )
            for k in sorted(self._dirty_keys)
        ]
        return self.changes


def _event_keys(p: _Parsed) -> list[Key]:
    ws = p.event.workspace_id
    keys: list[Key] = []
    if p.user_id:
        keys.append((ws, USER, p.user_id))
    if p.anonymous_id:
        keys.append((ws, ANON, p.anonymous_id))
    if p.previous_id:
        keys += [(ws, USER, p.previous_id), (ws, ANON, p.previous_id)]
    return keys


def _keys(parsed: Iterable[_Parsed]) -> set[Key]:
    keys: set[Key] = set()
    for p in parsed:
        keys.update(_event_keys(p))
        keys.update(_external_keys(p.event.workspace_id, p.traits))
    return keys


def resolve(batch: IdentityBatch) -> IdentityChanges:
    """Work out what one slice of the inbox does to profiles, and save it."""
    parsed = [_parse(e) for e in batch.events]
    owners = batch.identities(_keys(parsed))
    known = set(owners.values())
    graph = IdentityGraph(
        owners=owners, load=batch.profiles, user_profiles=batch.user_profiles(known)
    )
    # profiles whose traits this batch sets, in one query rather than one each
    graph.preload(
        {
            owner
            for p in parsed
            if p.traits
            for key in _event_keys(p)
            if (owner := owners.get(key)) is not None
        }
    )
    for p in parsed:
        graph.apply(p)
    changes = graph.finish()
    batch.save(changes)
    return changes


def process_inbox(store: Store, limit: int) -> int:
    """One step of the profile consumer. Returns how many events it took."""
    try:
        with store.identity_batch(limit) as batch:
            if batch.events:
                resolve(batch)
            return len(batch.events)
    except ConsumerConflict:
        return 0  # the next step reads again and sees what changed


def replay_events(store: Store, events: Sequence[InboxEvent], tries: int = 3) -> None:
    """Resolve these events (a dead letter retried) without moving the consumer's cursor."""
    for attempt in range(tries):
        try:
            with store.identity_batch(len(events), events=events) as batch:
                resolve(batch)
            return
        except ConsumerConflict:
            if attempt == tries - 1:
                raise


class ProfileConsumer:
    """The profile consumer as the runtime runs it (see :class:`wayline.runtime.Loop`)."""

    consumer = "profiles"

    def __init__(self, store: Store, letters: DeadLetterStore, *, batch_size: int) -> None:
        self.store = store
        self.letters = letters
        self.batch_size = batch_size

    def step(self) -> int:
        return process_inbox(self.store, self.batch_size)

    def park(self, error: str, attempts: int) -> bool:
        return self.letters.park_next(self.consumer, error, attempts, downstream=False)

    def replay(self, events: Sequence[InboxEvent]) -> None:
        replay_events(self.store, events)
