"""A workspace's subscription groups, as written in its file, and as stored.

A group is a channel and a topic (the ``topic`` of ``send`` nodes) that customers can
subscribe to or leave on the preference page. ``default: opt_out`` groups reach every
customer until they unsubscribe; ``default: opt_in`` groups reach only customers who
subscribed (for email with ``double_opt_in``, once they confirmed by the link of a
confirmation email). A group with ``topic: "*"`` stands for the channel's marketing
messages whose topic has no group of its own. Loaded like the controls file: YAML or JSON,
every problem reported at its line, nothing stored unless the whole file is valid.

```yaml
subscription_groups:
  - {channel: email, topic: newsletter, name: Newsletter, default: opt_in,
     double_opt_in: true, confirmation_template: confirm-newsletter}
  - {channel: email, topic: product-updates, name: Product updates, default: opt_out}
  - {channel: sms, topic: "*", name: Text messages, default: opt_in}
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import sqlalchemy as sa
from pydantic import Field, model_validator
from sqlalchemy.engine import Connection

from wayline.errors import WaylineError
from wayline.journeys.base import Name, SpecModel, problem
from wayline.journeys.files import read_document, read_text, validated
from wayline.journeys.problems import Problem
from wayline.journeys.source import Loc, Source
from wayline.store import schema
from wayline.store.sql import SqlStore

#: The topic of a group that covers the channel's messages without a group of their own.
ANY_TOPIC: Final = "*"


class SubscriptionGroupsInvalid(WaylineError):
    """The subscription groups file is not valid."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or None)


class Group(SpecModel):
    """Customers' consent to a channel's marketing messages of one topic."""

    channel: Literal["email", "sms"]
    """The channel: ``email`` or ``sms``."""
    topic: Name = Field(max_length=100)
    """The ``topic`` of the send nodes whose messages belong to the group; ``*``: the
    channel's marketing messages whose topic has no group."""
    name: str = Field(min_length=1, max_length=200)
    """What customers read on the preference page."""
    description: str = Field("", max_length=2000)
    """A sentence under the name on the preference page."""
    default: Literal["opt_in", "opt_out"]
    """``opt_out``: customers receive its messages until they unsubscribe; ``opt_in``:
    only once they subscribed."""
    double_opt_in: bool = False
    """Email, opt_in: a subscription counts once the customer followed the link of the
    confirmation email."""
    confirmation_template: Name | None = None
    """The email template of the confirmation email; it shows ``{{ message.confirm_url }}``."""

    @model_validator(mode="after")
    def _double_opt_in(self) -> Group:
        if self.double_opt_in:
            if self.channel != "email":
                raise problem(
                    "double_opt_in", "double opt-in is for email groups", at=("double_opt_in",)
                )
            if self.default != "opt_in":
                raise problem(
                    "double_opt_in",
                    "double opt-in needs default: opt_in (an opt-out group sends without it)",
                    at=("double_opt_in",),
                )
            if self.confirmation_template is None:
                raise problem(
                    "confirmation_template",
                    "double opt-in needs the confirmation email's template",
                    at=("double_opt_in",),
                )
        elif self.confirmation_template is not None:
            raise problem(
                "confirmation_template",
                "a confirmation template is only sent with double_opt_in: true",
                at=("confirmation_template",),
            )
        return self


class GroupsFile(SpecModel):
    subscription_groups: list[Group] = Field(default_factory=list)
    """Every group of the workspace; applying the file replaces them all."""

    @model_validator(mode="after")
    def _unique(self) -> GroupsFile:
        seen: set[tuple[str, str]] = set()
        for index, group in enumerate(self.subscription_groups):
            key = (group.channel, group.topic)
            if key in seen:
                raise problem(
                    "duplicate",
                    f"a second {group.channel} group for topic {group.topic!r}",
                    at=("subscription_groups", str(index), "topic"),
                )
            seen.add(key)
        return self

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", exclude_none=True)
        return data


_FIELDS: Final = tuple(
    sorted({name for model in (GroupsFile, Group) for name in model.model_fields})
)


def load_groups(path: str | Path) -> GroupsFile:
    """Load and check a groups file. Raises :class:`SubscriptionGroupsInvalid`."""
    return load_groups_text(read_text(path, SubscriptionGroupsInvalid), str(path))


def load_groups_text(text: str, source_name: str = "<text>") -> GroupsFile:
    source = read_document(
        text,
        source_name,
        SubscriptionGroupsInvalid,
        not_a_mapping="a groups file is a mapping with the key subscription_groups",
    )
    return _validate(source.data, source, source_name)


def groups_from_data(data: Any, source_name: str = "<api>") -> GroupsFile:
    """Check groups given as data (a JSON body). Problems carry the field, not a line."""
    if not isinstance(data, dict):
        raise SubscriptionGroupsInvalid(
            [Problem(file=source_name, message="the groups are a mapping (a JSON object)")]
        )
    return _validate(data, None, source_name)


def _relocate(loc: Loc, at: Sequence[Any]) -> Loc:
    """A rule over the whole file names its own path from the top."""
    named = [int(p) if isinstance(p, str) and p.isdigit() else p for p in at]
    return tuple(named) if named and named[0] == "subscription_groups" else (*loc, *named)


def _validate(data: Any, source: Source | None, name: str) -> GroupsFile:
    return validated(
        GroupsFile,
        data,
        source,
        name,
        SubscriptionGroupsInvalid,
        fields=_FIELDS,
        relocate=_relocate,
    )


# -- stored -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredGroup:
    channel: str
    topic: str
    name: str
    description: str
    default: str
    double_opt_in: bool
    confirmation_template: str | None

    @property
    def opt_in(self) -> bool:
        return self.default == "opt_in"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "channel": self.channel,
            "topic": self.topic,
            "name": self.name,
            "description": self.description,
            "default": self.default,
            "double_opt_in": self.double_opt_in,
        }
        if self.confirmation_template:
            data["confirmation_template"] = self.confirmation_template
        return data


def _stored(row: Any) -> StoredGroup:
    return StoredGroup(
        channel=row.channel,
        topic=row.topic,
        name=row.name,
        description=row.description,
        default=row.default_consent,
        double_opt_in=bool(row.double_opt_in),
        confirmation_template=row.confirmation_template,
    )


def groups(conn: Connection, workspace_id: str) -> list[StoredGroup]:
    t = schema.subscription_groups
    rows = conn.execute(
        sa.select(t).where(t.c.workspace_id == workspace_id).order_by(t.c.position)
    ).all()
    return [_stored(r) for r in rows]


def group_for(
    conn: Connection, workspace_id: str, channel: str, topic: str | None
) -> StoredGroup | None:
    """The group a message of this channel and topic belongs to, if any: the topic's own,
    else the channel's ``*`` group."""
    t = schema.subscription_groups
    topics = [ANY_TOPIC] if not topic else [topic, ANY_TOPIC]
    rows = conn.execute(
        sa.select(t).where(
            t.c.workspace_id == workspace_id, t.c.channel == channel, t.c.topic.in_(topics)
        )
    ).all()
    if not rows:
        return None
    return _stored(min(rows, key=lambda r: r.topic == ANY_TOPIC))


def missing_templates(store: SqlStore, workspace_id: str, spec: GroupsFile) -> list[str]:
    """The confirmation templates the file names that the workspace has no email template of."""
    from wayline.store.templates import TemplateStore

    templates = TemplateStore(store)
    missing = []
    for group in spec.subscription_groups:
        name = group.confirmation_template
        if name is None:
            continue
        found = templates.latest(workspace_id, name)
        if found is None or found.channel != "email":
            missing.append(name)
    return missing


def put_groups(store: SqlStore, workspace_id: str, spec: GroupsFile) -> list[StoredGroup]:
    """Replace the workspace's groups with the file's (already validated), in one commit."""
    t = schema.subscription_groups
    now = store.clock.now()
    with store._write() as conn:
        conn.execute(sa.delete(t).where(t.c.workspace_id == workspace_id))
        if spec.subscription_groups:
            conn.execute(
                sa.insert(t),
                [
                    {
                        "workspace_id": workspace_id,
                        "channel": g.channel,
                        "topic": g.topic,
                        "name": g.name,
                        "description": g.description,
                        "default_consent": g.default,
                        "double_opt_in": g.double_opt_in,
                        "confirmation_template": g.confirmation_template,
                        "position": index,
                        "updated_at": now,
                    }
                    for index, g in enumerate(spec.subscription_groups)
                ],
            )
        return groups(conn, workspace_id)
