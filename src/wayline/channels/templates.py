"""Message templates: Liquid text, MJML or HTML email bodies, read from files, rendered.

A template file is YAML (or JSON), one template per file::

    name: cart-reminder            # default: the file name without extension
    channel: email                 # email (default) | sms
    subject: "{{ profile.first_name | default: 'Hello' }}, your cart is waiting"
    preheader: "Still thinking about it?"
    mjml: |                        # or html: |  (exactly one of the two)
      <mjml><mj-body>…</mj-body></mjml>
    text: |                        # optional: generated from the HTML when absent
      …

An SMS template has ``body`` instead. An in-app template (``channel: inapp``) has a
``placement``, ``content`` (JSON whose text values are Liquid) and/or ``html``, and
optionally ``priority``, ``ttl`` and ``expires`` (see ``channels/inapp.py``). Every text
field is Liquid, checked when the file is read: a syntax error is reported at its line in
the file. Rendering has two modes: a *strict* one (preview, test sends) where a missing
variable is an error naming it, and a *lenient* one (real sends) where it renders as
nothing, so that one customer without a first name does not stop their message.
"""

from __future__ import annotations

import functools
import html
import re
import threading
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import mjml
from babel import Locale, UnknownLocaleError, numbers
from liquid import BoundTemplate, Environment, Markup, StrictDefaultUndefined, Undefined
from liquid.exceptions import LiquidError
from liquid.extra import DateTime
from pydantic import AfterValidator, Field, JsonValue, ValidationError, model_validator

from wayline.channels import markup
from wayline.channels.plaintext import html_to_text, tidy_text
from wayline.channels.sandbox import TIME_BUDGET, TemplateEnvironment, describe
from wayline.errors import WaylineError
from wayline.journeys.base import Name, SpecModel, _Matching
from wayline.journeys.durations import Duration
from wayline.journeys.problems import Problem
from wayline.journeys.source import Position, Source, SourceError, parse

#: The fields of a template that are Liquid text.
TEXT_FIELDS = ("subject", "preheader", "mjml", "html", "text", "body", "expires")
#: The fields only in-app templates have.
INAPP_FIELDS = ("placement", "content", "priority", "ttl", "expires")

_PLACEMENT = _Matching(
    r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}",
    "a placement name",
    "letters, digits, _, . and -, starting with a letter or digit, at most 100 characters",
)
#: A placement's name: part of ``/v1/content/{placement}``.
PlacementName = Annotated[str, AfterValidator(_PLACEMENT), _PLACEMENT.schema()]


class TemplateInvalid(WaylineError):
    """The template is not valid."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems) or None)


class RenderError(WaylineError):
    """The template could not be rendered for this customer."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class TemplateSpec(SpecModel):
    """One message template, as applied from a file or the API."""

    name: Name
    """The name journeys' ``send`` nodes refer to."""
    channel: Literal["email", "sms", "inapp"] = "email"
    """The channel it is written for."""
    placement: PlacementName | None = None
    """In-app: where on the site or app the content shows (``home-hero``)."""
    content: dict[str, JsonValue] | None = None
    """In-app: fields the site renders itself (JSON; every text value is Liquid)."""
    priority: int | None = Field(None, ge=-1000, le=1000)
    """In-app: the higher wins when several messages wait for one placement (default 0)."""
    ttl: Duration | None = None
    """In-app: how long after delivery the content is served (``7d``)."""
    expires: str | None = None
    """In-app: when the content stops being served, ISO 8601 (Liquid)."""
    subject: str | None = None
    """Email: the subject line (Liquid)."""
    preheader: str | None = None
    """Email: the preview text shown after the subject in inboxes (Liquid)."""
    mjml: str | None = None
    """Email: the body in MJML (Liquid first, then MJML to responsive HTML)."""
    html: str | None = None
    """Email: the body in HTML (Liquid)."""
    text: str | None = None
    """Email: the plain-text part (Liquid); generated from the HTML when absent."""
    body: str | None = Field(None, max_length=1600)
    """SMS: the message text (Liquid)."""

    @model_validator(mode="after")
    def _complete(self) -> TemplateSpec:
        if self.channel == "email":
            if not self.subject:
                raise ValueError("an email template needs a subject")
            if (self.mjml is None) == (self.html is None):
                raise ValueError("an email template needs exactly one body: mjml or html")
            if self.body is not None:
                raise ValueError("body is for SMS templates; an email has mjml or html")
        elif self.channel == "inapp":
            if self.placement is None:
                raise ValueError("an in-app template needs a placement")
            if self.content is None and self.html is None:
                raise ValueError("an in-app template needs content or html (or both)")
            wrong = [f for f in ("subject", "preheader", "mjml", "text", "body") if _set(self, f)]
            if wrong:
                raise ValueError(f"{wrong[0]} is not for in-app templates")
        elif self.body is None:
            raise ValueError("an SMS template needs a body")
        if self.channel != "inapp":
            wrong = [f for f in INAPP_FIELDS if _set(self, f)]
            if wrong:
                raise ValueError(f"{wrong[0]} is for in-app templates (channel: inapp)")
        return self

    def as_spec(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def _set(spec: TemplateSpec, field: str) -> bool:
    return getattr(spec, field) is not None


@dataclass(frozen=True, kw_only=True, slots=True)
class RenderedEmail:
    subject: str
    preheader: str
    html: str
    text: str


def _locate_in(source: Source, field: str, text: str, index: int) -> tuple[int, int]:
    """The file position of character ``index`` of a Liquid field's text."""
    pos = source.position((field,))
    line_in = text.count("\n", 0, index)
    col_in = index - (text.rfind("\n", 0, index) + 1)
    for key, value in getattr(source.root, "value", []):
        if getattr(key, "value", None) == field:
            start = value.start_mark
            if getattr(value, "style", None) in ("|", ">"):
                # a block scalar's text starts on the line after the indicator
                return start.line + 2 + line_in, col_in + 1 + _indent(source, start.line + 1)
            return start.line + 1 + line_in, start.column + 2 + col_in
    return pos.line, pos.column


def _indent(source: Source, line: int) -> int:
    buffer = getattr(source.root.start_mark, "buffer", None) or ""
    lines = buffer.split("\n")
    if line < len(lines):
        return len(lines[line]) - len(lines[line].lstrip(" "))
    return 0


def load_template_text(text: str, name: str, *, default_name: str | None = None) -> TemplateSpec:
    """Read and check a template; problems carry ``name:line:col``."""
    source, spec = checked_document(text, name, TemplateSpec, "a template", default_name)
    problems = []
    env = Environment(undefined=StrictDefaultUndefined)
    _add_filters(env)
    for field in TEXT_FIELDS:
        value = getattr(spec, field)
        if value is None:
            continue
        try:
            env.from_string(value)
        except LiquidError as exc:
            token = getattr(exc, "token", None)
            index = getattr(token, "start_index", 0) if token is not None else 0
            line, column = _locate_in(source, field, value, index)
            problems.append(
                Problem(file=name, line=line, column=column, path=field, message=_first_line(exc))
            )
    for loc, leaf in liquid_leaves(spec.content or {}, ("content",)):
        try:
            env.from_string(leaf)
        except LiquidError as exc:
            pos = source.position(loc)
            problems.append(
                Problem(
                    file=name,
                    line=pos.line,
                    column=pos.column,
                    path=".".join(str(p) for p in loc),
                    message=_first_line(exc),
                )
            )
    if problems:
        raise TemplateInvalid(problems)
    return spec


def liquid_leaves(
    value: Any, path: tuple[str | int, ...]
) -> list[tuple[tuple[str | int, ...], str]]:
    """The text values inside a JSON value, with their paths: each one is Liquid."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in liquid_leaves(v, (*path, k))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in liquid_leaves(v, (*path, i))]
    return []


def load_template(path: Path) -> TemplateSpec:
    return load_template_text(read_file(path), str(path), default_name=path.stem)


M = TypeVar("M", bound=SpecModel)


def checked_document(
    text: str, name: str, model: type[M], what: str, default_name: str | None
) -> tuple[Source, M]:
    """The document in ``text`` and ``what`` it describes (a template, a placement), or
    :class:`TemplateInvalid` with every problem at ``name:line:col``. A document without a
    ``name`` takes ``default_name`` (the file's stem)."""
    try:
        source = parse(text)
    except SourceError as exc:
        raise TemplateInvalid(
            [_problem_at(name, exc.position, exc.message.replace("a journey is", f"{what} is"))]
        ) from None
    data = dict(source.data)
    if default_name and "name" not in data:
        data["name"] = default_name
    try:
        return source, model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if isinstance(p, str | int))
            problem = _problem_at(
                name, source.position(loc), error["msg"].removeprefix("Value error, ")
            )
            problems.append(replace(problem, path=".".join(str(p) for p in loc)))
        raise TemplateInvalid(problems) from None


def _problem_at(name: str, position: Position | None, message: str) -> Problem:
    return Problem(
        file=name,
        line=position.line if position else None,
        column=position.column if position else None,
        message=message,
    )


def read_file(path: Path) -> str:
    """A template or placement file's text, or :class:`TemplateInvalid` naming the file."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateInvalid([Problem(file=str(path), message=f"cannot read: {exc}")]) from None


#: The file of a templates directory that holds the workspace variables.
VARIABLES_STEM = "variables"
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
#: Names templates see on ``workspace`` that variables may not take.
RESERVED_VARIABLES = frozenset({"id", "name", "timezone"})


def template_files(paths: list[Path]) -> tuple[list[Path], Path | None]:
    """The template files among these paths (a directory stands for its YAML/JSON files),
    and the directory's ``variables.yaml`` if there is one."""
    found: list[Path] = []
    variables: Path | None = None
    for path in paths:
        if path.is_dir():
            for p in sorted(path.iterdir()):
                if p.suffix not in (".yaml", ".yml", ".json"):
                    continue
                if p.stem == VARIABLES_STEM:
                    variables = p
                else:
                    found.append(p)
        elif path.stem == VARIABLES_STEM:
            variables = path
        else:
            found.append(path)
    return found, variables


def check_variables(data: Any, name: str, source: Source | None = None) -> dict[str, Any]:
    """``{"variables": {NAME: value, …}}`` as the workspace's variables."""

    def fail(loc: tuple[str | int, ...], message: str) -> TemplateInvalid:
        pos = source.position(loc) if source is not None else None
        return TemplateInvalid(
            [
                Problem(
                    file=name,
                    line=pos.line if pos else None,
                    column=pos.column if pos else None,
                    path=".".join(str(p) for p in loc),
                    message=message,
                )
            ]
        )

    if not isinstance(data, dict) or set(data) != {"variables"}:
        raise fail((), "a variables file has one key, variables, holding NAME: value pairs")
    variables = data["variables"]
    if not isinstance(variables, dict):
        raise fail(("variables",), "must be a mapping of NAME: value")
    for key in variables:
        if not isinstance(key, str) or not _VARIABLE_NAME.match(key):
            raise fail(
                ("variables", str(key)), "a name is letters, digits and _, not first a digit"
            )
        if key in RESERVED_VARIABLES:
            raise fail(("variables", key), f"{key!r} is reserved: workspace.{key} is built in")
    return dict(variables)


def load_variables(path: Path) -> dict[str, Any]:
    try:
        source = parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateInvalid([Problem(file=str(path), message=f"cannot read: {exc}")]) from None
    except SourceError as exc:
        pos = exc.position
        raise TemplateInvalid(
            [
                Problem(
                    file=str(path),
                    line=pos.line if pos else None,
                    column=pos.column if pos else None,
                    message=exc.message.replace("a journey is", "a variables file is"),
                )
            ]
        ) from None
    return check_variables(source.data, str(path), source)


def workspace_scope(
    workspace_id: str, name: str, zone: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """What templates see as ``workspace``: its variables, and its id, name and zone."""
    return {**variables, "id": workspace_id, "name": name, "timezone": zone}


def _first_line(exc: Exception) -> str:
    return str(exc).strip().split("\n", 1)[0]


# -- filters -------------------------------------------------------------------------------


def _locale(value: Any, fallback: str = "en_US") -> Locale:
    if isinstance(value, str) and value:
        try:
            return Locale.parse(value.replace("-", "_"))
        except (ValueError, UnknownLocaleError):
            pass
    return Locale.parse(fallback)


class Money:
    """``{{ 19.9 | money }}`` in the customer's locale and currency (``locale`` and
    ``currency`` of the render), or ``{{ 19.9 | money: 'EUR' }}`` in a given currency."""

    with_context = True

    def __call__(self, left: object, code: object = None, *, context: Any) -> str:
        if left is None or isinstance(left, Undefined):
            return ""
        try:
            amount = Decimal(str(left))
        except InvalidOperation:
            return str(left)
        currency = (
            code if isinstance(code, str) and code else context.resolve("currency", default="USD")
        )
        locale = context.resolve("locale", default="en_US")
        return _money(amount, str(currency).upper(), str(locale) if locale else "")


@functools.lru_cache(maxsize=4096)
def _money(amount: Decimal, currency: str, locale: str) -> str:
    """Formatted once per amount, currency and locale: prices repeat across customers."""
    return str(numbers.format_currency(amount, currency, locale=_locale(locale)))


def _add_filters(env: Environment) -> None:
    env.filters["money"] = Money()
    env.filters["datetime"] = DateTime(timezone_var="timezone", locale_var="locale")


# -- rendering -----------------------------------------------------------------------------


def render_globals(traits: dict[str, Any], workspace_zone: str) -> dict[str, Any]:
    """The locale, time zone and currency a customer's message is written in."""
    return {
        "locale": str(_locale(traits.get("locale"))),
        "timezone": str(traits.get("timezone") or workspace_zone or "UTC"),
        "currency": str(traits.get("currency") or "USD"),
        # what the datetime filter reads: dates without a zone are UTC, the medium format
        "input_timezone": "UTC",
        "datetime_format": "medium",
    }


@dataclass(frozen=True, slots=True)
class _Body:
    """An email body made ready once per template text (:meth:`Renderer._body`)."""

    #: The HTML as Liquid; None when MJML must be compiled after Liquid, per message.
    html: str | None
    #: The plain-text part as Liquid; None when it is made from each message's HTML.
    text: str | None


_LIQUID_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)


def _liquid_tags(text: str) -> list[str]:
    return _LIQUID_TAG.findall(text)


def _mjml_to_html(markup: str) -> str:
    try:
        html: str = mjml.mjml2html(markup)
    except ValueError as exc:
        raise RenderError("mjml", f"not valid MJML: {exc}") from None
    return html


class Renderer:
    """Renders templates. Safe for several threads: parsed templates hold no render state.

    HTML (email bodies, MJML, in-app HTML) is rendered with Liquid's autoescape: every
    value is HTML-escaped on output unless it is marked as markup, by the template
    (``| safe``) or because it is a workspace variable (written by the workspace's
    admins, like the templates). Text (subjects, preheaders, text parts, SMS, in-app
    JSON content) is rendered as it is: escaping would show ``&amp;`` to the reader.
    """

    def __init__(self, *, time_budget: float = TIME_BUDGET) -> None:
        self._envs = {
            (html, strict): TemplateEnvironment(
                undefined=StrictDefaultUndefined if strict else Undefined,
                autoescape=html,
                time_budget=time_budget,
            )
            for html in (False, True)
            for strict in (False, True)
        }
        for env in self._envs.values():
            _add_filters(env)
        self._cache: dict[tuple[str, bool, bool], BoundTemplate] = {}
        self._bodies: dict[tuple[str, str], _Body] = {}
        self._lock = threading.Lock()

    def text(self, field: str, source: str, scope: dict[str, Any], *, strict: bool) -> str:
        """``source`` rendered as plain text: values as they are."""
        return self._render(field, source, scope, strict=strict, html=False)

    def markup(self, field: str, source: str, scope: dict[str, Any], *, strict: bool) -> str:
        """``source`` rendered as HTML: values escaped, but for trusted markup."""
        return self._render(field, source, trusted(scope), strict=strict, html=True)

    def _render(
        self, field: str, source: str, scope: dict[str, Any], *, strict: bool, html: bool
    ) -> str:
        try:
            return str(self._parsed(source, strict, html).render(**scope))
        except LiquidError as exc:
            raise RenderError(field, describe(exc)) from None

    def _parsed(self, source: str, strict: bool, html: bool) -> BoundTemplate:
        """Parsing costs more than rendering: each text is parsed once per renderer."""
        key = (source, strict, html)
        found = self._cache.get(key)
        if found is None:
            found = self._envs[(html, strict)].from_string(source)
            with self._lock:
                if len(self._cache) >= 512:
                    self._cache.clear()
                self._cache[key] = found
        return found

    def email(self, spec: TemplateSpec, scope: dict[str, Any], *, strict: bool) -> RenderedEmail:
        subject = " ".join(self.text("subject", spec.subject or "", scope, strict=strict).split())
        preheader = self.text("preheader", spec.preheader or "", scope, strict=strict).strip()
        field = "mjml" if spec.mjml is not None else "html"
        made = self._body(field, spec.mjml if spec.mjml is not None else spec.html or "")
        body = None
        if made.html is not None:
            body = self.markup(field, made.html, scope, strict=strict)
            if field == "mjml" and "<mj-" in body:
                body = None  # a trusted value held MJML: it is compiled with the rest
        if body is None:
            made = _Body(html=None, text=None)
            markup = self.markup("mjml", spec.mjml or "", scope, strict=strict)
            body = _mjml_to_html(markup)
        if spec.text is not None:
            text = self.text("text", spec.text, scope, strict=strict)
        elif made.text is not None:
            # a link whose target rendered as nothing shows no empty parentheses
            text = tidy_text(self.text(field, made.text, scope, strict=strict).replace(" ()", ""))
        else:
            text = html_to_text(body)
        if preheader:
            body = add_preheader(body, preheader)
        return RenderedEmail(subject=subject, preheader=preheader, html=body, text=text)

    def _body(self, field: str, source: str) -> _Body:
        """The body as Liquid over HTML, and its plain text as Liquid, made once per text.

        MJML is compiled to HTML with its Liquid in place when its Liquid is only output
        (``{{ … }}``, no ``{% … %}`` tag, which could repeat or leave out elements whose
        layout MJML computes together, such as a section's columns) and the compiled HTML
        keeps every output as it was, in the same order. Else the Liquid is rendered
        first, for each message, and the result compiled, as it is when a value turns out
        to hold MJML. The plain text is made from the HTML likewise, when it keeps every
        Liquid tag of the HTML (not when one is in an attribute other than a link's, or in
        a hidden part) and no output can be markup (``| safe``, a workspace variable):
        markup must become text, so that text is made from each message's HTML.
        """
        key = (field, source)
        found = self._bodies.get(key)
        if found is not None:
            return found
        html: str | None = source
        if field == "mjml":
            try:
                html = None if "{%" in source else _mjml_to_html(source)
            except RenderError:
                html = None
            if html is not None and _liquid_tags(html) != _liquid_tags(source):
                html = None
        text = None
        if html is not None and not any(_MARKUP_OUTPUT.search(t) for t in _liquid_tags(html)):
            text = html_to_text(html, liquid_links=True)
            if _liquid_tags(text) != _liquid_tags(html):
                text = None
        found = _Body(html=html, text=text)
        with self._lock:
            if len(self._bodies) >= 256:
                self._bodies.clear()
            self._bodies[key] = found
        return found

    def sms(self, spec: TemplateSpec, scope: dict[str, Any], *, strict: bool) -> str:
        return self.text("body", spec.body or "", scope, strict=strict).strip()


#: Liquid output that may be markup: a workspace variable, or a value marked ``safe``.
_MARKUP_OUTPUT = re.compile(r"\bworkspace\b|\|\s*safe\b")


def trusted(scope: dict[str, Any]) -> dict[str, Any]:
    """The scope with the workspace variables marked as markup, for HTML: they are
    written by the workspace's admins, as templates are (the built-in ``id``, ``name`` and
    ``timezone`` stay text)."""
    workspace = scope.get("workspace")
    if not isinstance(workspace, dict):
        return scope
    marked = {k: v if k in RESERVED_VARIABLES else _as_markup(v) for k, v in workspace.items()}
    return {**scope, "workspace": marked}


def _as_markup(value: Any) -> Any:
    if isinstance(value, str):
        return Markup(value)
    if isinstance(value, dict):
        return {k: _as_markup(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_markup(v) for v in value]
    return value


def add_preheader(body: str, preheader: str) -> str:
    """The preheader as the first, hidden text of the body: what inboxes show as preview."""
    hidden = (
        '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all" aria-hidden="true">'
        f"{html.escape(preheader)}</div>"
    )
    return markup.after_body_start(body, hidden)
