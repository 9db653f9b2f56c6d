"""Placements: the places of a site or app that show in-app content, and what each shows
a customer no journey has sent anything to — its rule-based default.

A placement file is YAML (or JSON), one placement per file::

    name: home-hero               # default: the file name without extension
    description: The banner at the top of the home page
    rules:                        # the first that applies gives the content
      - when: {event: Product Configured, within: 90d}
        content:
          title: "Welcome back! Your {{ event.properties.product }} is ready"
          product_id: "{{ event.properties.product_id }}"
      - when: {trait: favourite_category}
        content: {title: "New in {{ profile.favourite_category }}"}
      - content: {title: "Build your own bike"}     # no when: everyone else

``when: {event: NAME}`` applies when the customer has such an event (optionally passing
``where``, within ``within`` of now); templates then see the latest one as ``event``
(``event.properties.…``, ``event.timestamp``). ``when: {trait: NAME}`` applies when the
trait is set. Every text is Liquid over ``profile``, ``event`` and ``workspace``, checked
when the file is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from liquid import Environment, StrictDefaultUndefined
from liquid.exceptions import LiquidError
from pydantic import Field, JsonValue, model_validator
from sqlalchemy.engine import Connection

from wayline.channels.inapp import message_scope, render_json
from wayline.channels.templates import (
    PlacementName,
    Renderer,
    RenderError,
    TemplateInvalid,
    _add_filters,
    checked_document,
    liquid_leaves,
    read_file,
)
from wayline.journeys.base import Name, SpecModel
from wayline.journeys.durations import Duration
from wayline.journeys.filters import Where, matches
from wayline.journeys.problems import Problem
from wayline.store import schema
from wayline.store.sql import SqlStore
from wayline.store.templates import VariableStore

#: Rows read per query while looking for the latest event that passes a ``where``.
PAGE = 200
#: Pages read at most: a rule answers a page view, it must not scan a long history.
MAX_PAGES = 5


class When(SpecModel):
    """What the customer must have for the rule to apply: an event or a trait."""

    event: Name | None = None
    """A ``track`` event's name: the customer's latest one is the rule's ``event``."""
    where: Where | None = None
    """Event: only events passing this filter (``properties.price: {gte: 10}``)."""
    within: Duration | None = None
    """Event: only events this recent (``90d``)."""
    trait: Name | None = None
    """A trait the profile has (set, not null, not empty)."""

    @model_validator(mode="after")
    def _one(self) -> When:
        if (self.event is None) == (self.trait is None):
            raise ValueError("when needs exactly one of event or trait")
        if self.trait is not None and (self.where is not None or self.within is not None):
            raise ValueError("where and within go with event, not trait")
        return self


class Rule(SpecModel):
    """One way to fill the placement."""

    when: When | None = None
    """When it applies; without it, always."""
    content: dict[str, JsonValue] | None = None
    """Fields the site renders itself (JSON; every text value is Liquid)."""
    html: str | None = None
    """HTML to show as it is (Liquid)."""

    @model_validator(mode="after")
    def _something(self) -> Rule:
        if self.content is None and self.html is None:
            raise ValueError("a rule needs content or html (or both)")
        return self


class PlacementSpec(SpecModel):
    """A placement and its default content."""

    name: PlacementName
    """The name in ``/v1/content/{placement}`` and in in-app templates."""
    description: str | None = None
    """What and where it is, for people."""
    rules: list[Rule] = Field(default_factory=list, max_length=50)
    """Tried in order when no journey content waits; the first that applies is served."""

    def as_spec(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def load_placement_text(text: str, name: str, *, default_name: str | None = None) -> PlacementSpec:
    """Read and check a placement; problems carry ``name:line:col``."""
    source, spec = checked_document(text, name, PlacementSpec, "a placement", default_name)
    env = Environment(undefined=StrictDefaultUndefined)
    _add_filters(env)
    problems: list[Problem] = []
    for i, rule in enumerate(spec.rules):
        texts = liquid_leaves(rule.content or {}, ("rules", i, "content"))
        if rule.html is not None:
            texts.append((("rules", i, "html"), rule.html))
        for loc, value in texts:
            try:
                env.from_string(value)
            except LiquidError as exc:
                pos = source.position(loc)
                problems.append(
                    Problem(
                        file=name,
                        line=pos.line,
                        column=pos.column,
                        path=".".join(str(p) for p in loc),
                        message=str(exc).strip().split("\n", 1)[0],
                    )
                )
    if problems:
        raise TemplateInvalid(problems)
    return spec


def load_placement(path: Path) -> PlacementSpec:
    return load_placement_text(read_file(path), str(path), default_name=path.stem)


def placement_files(paths: Sequence[Path]) -> list[Path]:
    """The placement files among these paths (a directory stands for its YAML/JSON files)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p for p in sorted(path.iterdir()) if p.suffix in (".yaml", ".yml", ".json")
            )
        else:
            found.append(path)
    return found


# -- defaults --------------------------------------------------------------------------------


class Defaults:
    """Works out a placement's default content for one customer."""

    def __init__(self, store: SqlStore, renderer: Renderer | None = None) -> None:
        self.store = store
        self.renderer = renderer or Renderer()
        self.variables = VariableStore(store)

    def content(
        self,
        spec: PlacementSpec,
        workspace_id: str,
        profile_id: str | None,
        traits: dict[str, Any],
        now: datetime,
    ) -> tuple[int, dict[str, Any] | None, str | None] | None:
        """The first rule that applies (its index), rendered; None when none does."""
        for index, rule in enumerate(spec.rules):
            event: dict[str, Any] = {}
            when = rule.when
            if when is not None and when.trait is not None:
                if traits.get(when.trait) in (None, "", [], {}):
                    continue
            elif when is not None and when.event is not None:
                if profile_id is None:
                    continue
                since = None if when.within is None else now - when.within
                with self.store.engine.connect() as conn:
                    found = latest_event(
                        conn, workspace_id, profile_id, when.event, where=when.where, since=since
                    )
                if found is None:
                    continue
                event = found
            scope = message_scope(
                self.store,
                self.variables,
                workspace_id,
                profile_id,
                traits,
                event=event,
                journey={},
                message={},
            )
            try:
                content = (
                    None
                    if rule.content is None
                    else render_json(self.renderer, rule.content, "content", scope, strict=False)
                )
                html = (
                    None
                    if rule.html is None
                    else self.renderer.markup("html", rule.html, scope, strict=False)
                )
            except RenderError:
                continue
            return index, content, html
        return None


def latest_event(
    conn: Connection,
    workspace_id: str,
    profile_id: str,
    event: str,
    *,
    where: dict[str, Any] | None = None,
    since: datetime | None = None,
) -> dict[str, Any] | None:
    """The customer's latest ``event`` (by event time) that passes ``where``, as templates
    see an event: name, message id, timestamp and properties."""
    t = schema.identities
    users: list[str] = []
    anonymous: list[str] = []
    for kind, value in conn.execute(
        sa.select(t.c.kind, t.c.value).where(
            t.c.workspace_id == workspace_id, t.c.profile_id == profile_id
        )
    ):
        if kind == "user_id":
            users.append(value)
        elif kind == "anonymous_id":
            anonymous.append(value)
    if not users and not anonymous:
        return None
    i = schema.inbox
    query = sa.select(i.c.message_id, i.c.timestamp, i.c.payload).where(
        i.c.workspace_id == workspace_id,
        sa.or_(i.c.user_id.in_(users), i.c.anonymous_id.in_(anonymous)),
        i.c.type == "track",
        i.c.event == event,
    )
    if since is not None:
        query = query.where(i.c.timestamp >= since)
    query = query.order_by(i.c.timestamp.desc(), i.c.seq.desc())
    for page in range(MAX_PAGES):
        rows = conn.execute(query.offset(page * PAGE).limit(PAGE)).all()
        for message_id, timestamp, payload in rows:
            data = orjson.loads(payload)
            if not where or matches(where, data):
                return {
                    "event": event,
                    "message_id": message_id,
                    "timestamp": timestamp.isoformat(),
                    "properties": data.get("properties") or {},
                }
        if len(rows) < PAGE:
            break
    return None
