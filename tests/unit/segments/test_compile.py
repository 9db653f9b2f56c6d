"""The segment compiler refuses a condition it has no function for, naming it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wayline.segments.compile import Compiler, UnknownCondition


class Stage:
    """A kind of condition the compiler has not been taught."""


def _compiler() -> Compiler:
    return Compiler(
        warehouse=None,  # type: ignore[arg-type]
        people=None,
        events=None,
        owned=lambda t: t,
        places=None,
        now=datetime(2026, 1, 1, tzinfo=UTC),
        segments={},
    )


def test_an_unknown_condition_is_refused_by_name() -> None:
    with pytest.raises(UnknownCondition, match="Stage"):
        _compiler().compile(Stage())
