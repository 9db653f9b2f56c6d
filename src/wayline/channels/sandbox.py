"""The Liquid environment templates render in: HTML escaping, and limits.

Templates are written by marketers and render customer data, in the dispatcher and in
a server worker (a preview, the content API). Each render is bounded, with python-liquid's
own limits — loop iterations (nested loops multiply), bytes of output, bytes of local
variables, context depth — and a time budget checked as output is written, so that a
loop of a million turns is an error in milliseconds instead of a worker held for a minute.
"""

from __future__ import annotations

import math
import time
from io import StringIO
from typing import Any, ClassVar, TextIO

from liquid import BoundTemplate, Environment, RenderContext, Undefined
from liquid.exceptions import (
    LiquidError,
    LocalNamespaceLimitError,
    LoopIterationLimitError,
    OutputStreamLimitError,
    ResourceLimitError,
)
from liquid.output import LimitedStringIO

#: Loop iterations a render may take; nested loops count their product.
LOOP_ITERATIONS = 10_000
#: Bytes (UTF-8) a render may write: far above what any inbox shows (Gmail clips at 102 KB).
OUTPUT_BYTES = 1_000_000
#: Bytes the variables a template assigns may hold (as ``sys.getsizeof`` counts them).
LOCAL_BYTES = 1_000_000
#: How deep contexts may nest (the ``render`` and ``include`` tags).
CONTEXT_DEPTH = 30
#: Seconds one text of a template may take to render.
TIME_BUDGET = 2.0


class RenderTooSlow(ResourceLimitError):
    """The template took longer than its time budget to render."""


class _Budgeted(LimitedStringIO):
    """An output stream with a byte limit and a deadline, checked at each write."""

    def __init__(self, limit: int, deadline: float, budget: float) -> None:
        super().__init__(limit=limit)
        self.deadline = deadline
        self.budget = budget

    def write(self, s: str, /) -> int:
        if time.monotonic() >= self.deadline:
            raise RenderTooSlow(f"rendering took more than {self.budget:g} s", token=None)
        return super().write(s)


class _Context(RenderContext):
    """A render context whose inner buffers (``capture``, blocks) keep the deadline."""

    deadline: float = math.inf
    budget: float = math.inf

    def get_buffer(self, buf: TextIO | None = None) -> StringIO:
        limit = self.env.output_stream_limit or OUTPUT_BYTES
        if isinstance(buf, _Budgeted):
            return _Budgeted(limit - buf.size, buf.deadline, buf.budget)
        return _Budgeted(limit, self.deadline, self.budget)


class _Template(BoundTemplate):
    context_class = _Context

    def render(self, *args: Any, **kwargs: Any) -> str:
        budget = getattr(self.env, "time_budget", TIME_BUDGET)
        context = _Context(self, globals=self.make_globals(dict(*args, **kwargs)))
        context.budget = budget
        context.deadline = time.monotonic() + budget
        buffer = context.get_buffer()
        self.render_with_context(context, buffer)
        return buffer.getvalue()


class TemplateEnvironment(Environment):
    """python-liquid's environment with Wayline's limits and a time budget."""

    loop_iteration_limit: ClassVar[int | None] = LOOP_ITERATIONS
    output_stream_limit: ClassVar[int | None] = OUTPUT_BYTES
    local_namespace_limit: ClassVar[int | None] = LOCAL_BYTES
    context_depth_limit: ClassVar[int] = CONTEXT_DEPTH
    template_class = _Template

    def __init__(
        self, *, undefined: type[Undefined], autoescape: bool, time_budget: float = TIME_BUDGET
    ) -> None:
        super().__init__(undefined=undefined, autoescape=autoescape)
        self.time_budget = time_budget


def describe(exc: LiquidError) -> str:
    """What went wrong, said plainly for a limit."""
    if isinstance(exc, LoopIterationLimitError):
        return f"the template is over a limit: more than {LOOP_ITERATIONS} loop iterations"
    if isinstance(exc, OutputStreamLimitError):
        return f"the template is over a limit: more than {OUTPUT_BYTES} bytes of output"
    if isinstance(exc, LocalNamespaceLimitError):
        return f"the template is over a limit: local variables over {LOCAL_BYTES} bytes"
    if isinstance(exc, ResourceLimitError):
        return f"the template is over a limit: {_first_line(exc)}"
    return _first_line(exc)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().split("\n", 1)[0]
