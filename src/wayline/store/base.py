"""The store's narrow interface: domain operations, no SQL. Two backends implement it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Protocol

from wayline.events import EventRow


class CredentialKind(StrEnum):
    #: May only send events to the ingestion API.
    WRITE_KEY = "write_key"
    #: Reads and manages its own workspace through the admin API.
    ADMIN_TOKEN = "admin_token"


class IdentityKind(StrEnum):
    USER_ID = "user_id"
    ANONYMOUS_ID = "anonymous_id"
    EMAIL = "email"
    PHONE = "phone"


@dataclass(frozen=True, kw_only=True, slots=True)
class Workspace:
    id: str
    name: str
    timezone: str
    created_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class NewWorkspace:
    """A workspace just created, with its secrets: the only time they are shown."""

    workspace: Workspace
    write_key: str
    admin_token: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Credential:
    workspace_id: str
    kind: CredentialKind


#: The longest grace period a revocation may give (API and CLI): long enough to roll a new
#: key out to every sender, short enough that a forgotten old key does not live on.
MAX_GRACE: Final = timedelta(days=30)


@dataclass(frozen=True, kw_only=True, slots=True)
class CredentialInfo:
    """A credential as it is listed: never its secret, which is shown once at creation."""

    id: str
    workspace_id: str
    kind: CredentialKind
    #: The first characters of the secret (``wk_…`` or ``wa_…``), to tell keys apart.
    prefix: str
    created_at: datetime
    #: When it stops (or stopped) working; a time to come is a grace period after a rotation.
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        """Whether the credential is accepted at ``now``."""
        return self.revoked_at is None or self.revoked_at > now

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "prefix": self.prefix,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Rejection:
    """An item that did not land, and why. Kept so that nothing is lost silently."""

    source: str
    position: int | None
    message_id: str | None
    field: str
    error: str
    payload: bytes | None


@dataclass(frozen=True, kw_only=True, slots=True, order=True)
class Cursor:
    """A consumer's position in the inbox: (transaction id, sequence)."""

    txid: int = 0
    seq: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class InboxEvent:
    seq: int
    txid: int
    workspace_id: str
    message_id: str
    type: str
    event: str | None
    user_id: str | None
    anonymous_id: str | None
    timestamp: datetime
    received_at: datetime
    payload: bytes

    @property
    def cursor(self) -> Cursor:
        return Cursor(txid=self.txid, seq=self.seq)


@dataclass(kw_only=True, slots=True)
class Profile:
    id: str
    workspace_id: str
    traits: dict[str, Any]
    #: trait name -> ISO time of the event that set it
    trait_times: dict[str, str]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class Identity:
    workspace_id: str
    kind: IdentityKind
    value: str
    profile_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Merge:
    workspace_id: str
    from_profile_id: str
    into_profile_id: str
    merged_at: datetime
    message_id: str


@dataclass(kw_only=True, slots=True)
class IdentityChanges:
    """What a batch of inbox events did to profiles, written in one transaction."""

    #: Profiles created or changed, in their final state.
    profiles: list[Profile] = field(default_factory=list)
    #: Identities created or pointed at another profile.
    identities: list[Identity] = field(default_factory=list)
    #: Profiles folded into others, in the order it happened.
    merges: list[Merge] = field(default_factory=list)
    #: How many of ``profiles`` are new, per workspace.
    created: dict[str, int] = field(default_factory=dict)
    #: Ids of the profiles this batch created (the others were stored before).
    new_ids: set[str] = field(default_factory=set)

    def stored_ids(self) -> set[str]:
        """Ids of stored profiles these changes write to or point at."""
        ids = {p.id for p in self.profiles} | {i.profile_id for i in self.identities}
        ids |= {m.into_profile_id for m in self.merges}
        return ids - self.new_ids


@dataclass(frozen=True, kw_only=True, slots=True)
class ProfileView:
    profile: Profile
    identities: list[Identity]
    #: Times of the profile's earliest and latest events (None before any is stored).
    first_seen: datetime | None = None
    last_seen: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Stats:
    events: int
    profiles: int
    rejected: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ErasureReport:
    """What an erase removed from the state store."""

    profile_id: str
    identities: list[tuple[str, str]]
    events: int
    merges: int
    #: Rejected items that carried one of the customer's ids.
    rejections: int = 0
    erasure_id: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PendingErasure:
    id: int
    workspace_id: str
    identities: list[tuple[str, str]]


class IdentityBatch(Protocol):
    """One transaction of the profile consumer: read a slice of the inbox, write its effects."""

    @property
    def events(self) -> Sequence[InboxEvent]: ...

    def identities(self, keys: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
        """(workspace, kind, value) -> profile id, for the keys that are known."""
        ...

    def profiles(self, ids: set[str]) -> dict[str, Profile]: ...

    def user_profiles(self, ids: set[str]) -> set[str]:
        """Those of these profiles that carry at least one userId."""
        ...

    def save(self, changes: IdentityChanges) -> None: ...


class Store(Protocol):
    """Everything the rest of Wayline asks of the state store."""

    #: sqlite | postgresql
    dialect: str

    def migrate(self) -> None: ...

    def close(self) -> None: ...

    # workspaces and credentials
    def create_workspace(self, name: str, *, timezone: str = "UTC") -> NewWorkspace: ...

    def workspace(self, name_or_id: str) -> Workspace | None: ...

    def list_workspaces(self) -> list[Workspace]: ...

    def authenticate(self, secret: str) -> Credential | None:
        """The credential whose secret this is, if it is accepted now."""
        ...

    def create_credential(
        self, workspace_id: str, kind: CredentialKind
    ) -> tuple[CredentialInfo, str]:
        """A new credential of the workspace, and its secret: the only time it is shown."""
        ...

    def list_credentials(self, workspace_id: str) -> list[CredentialInfo]:
        """The workspace's credentials, revoked ones too, oldest first."""
        ...

    def revoke_credential(
        self, workspace_id: str, credential_id: str, *, at: datetime | None = None
    ) -> CredentialInfo:
        """Stop accepting the credential from ``at`` (now by default; a time to come leaves
        a grace period). Raises ``CredentialNotFound``, ``CredentialRevoked`` or
        ``LastAdminToken``."""
        ...

    # ingestion
    def append_events(
        self, workspace_id: str, events: Sequence[EventRow], rejections: Sequence[Rejection] = ()
    ) -> int:
        """Store events durably, skipping messageIds already held. Returns how many were new."""
        ...

    def rejections(self, workspace_id: str, limit: int = 100) -> list[dict[str, Any]]: ...

    def stats(self, workspace_id: str) -> Stats: ...

    # consumers of the inbox
    def read_inbox(self, after: Cursor, limit: int) -> list[InboxEvent]: ...

    def identity_batch(
        self, limit: int, *, events: Sequence[InboxEvent] | None = None
    ) -> AbstractContextManager[IdentityBatch]:
        """The next ``limit`` events after the profile consumer's cursor, moved past them
        on commit; or these ``events``, the cursor left where it is."""
        ...

    def profiles_lag(self) -> int:
        """How many inbox events the profile consumer has still to take."""
        ...

    def inbox_after(self, after: Cursor) -> int:
        """How many inbox events lie after this cursor, committed or about to be."""
        ...

    # profiles
    def find_profile(self, workspace_id: str, any_id: str) -> ProfileView | None: ...

    def profile_events(
        self,
        workspace_id: str,
        profile_id: str,
        *,
        limit: int,
        before: tuple[datetime, int] | None = None,
    ) -> list[InboxEvent]:
        """Newest first; ``before`` is the (timestamp, seq) of the last event of a page."""
        ...

    def erase_profile(self, workspace_id: str, profile_id: str) -> ErasureReport: ...

    def pending_erasures(self) -> list[PendingErasure]: ...

    def finish_erasure(self, erasure_id: int) -> None: ...

    def iter_workspace_ids(self) -> Iterator[str]: ...
