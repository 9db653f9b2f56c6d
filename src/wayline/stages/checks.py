"""Segments and the workspace's stage model checked against each other: a ``stage``
condition naming a stage the model does not have would match nobody. A segment file is
reported at its line; a new model that drops a stage stored segments use is refused."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence, Set

from wayline.journeys.problems import Problem, format_path
from wayline.segments.loading import Loaded
from wayline.segments.spec import Segment, walk
from wayline.segments.stages import StageCondition
from wayline.stages.store import StageStore
from wayline.store.sql import SqlStore


def unknown_stages(loaded: Sequence[Loaded], names: Sequence[str]) -> list[Problem]:
    """Problems for every stage name in ``loaded`` that is not one of ``names``."""
    problems: list[Problem] = []
    for item in loaded:
        for path, condition in walk(item.segment.where):
            if not isinstance(condition, StageCondition):
                continue
            for i, name in enumerate(condition.stage):
                if name in names:
                    continue
                loc: tuple[str | int, ...] = ("where", *path, "stage")
                if item.source.written((*loc, i)) == (*loc, i):  # written as a list
                    loc = (*loc, i)
                close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                position = item.source.position(loc)
                problems.append(
                    Problem(
                        file=item.name,
                        line=position.line,
                        column=position.column,
                        path=format_path(item.source.written(loc)),
                        message=f"no stage {name!r} in the workspace's stage model{hint}",
                    )
                )
    return problems


def stage_problems(store: SqlStore, workspace_id: str, loaded: Sequence[Loaded]) -> list[Problem]:
    """:func:`unknown_stages` against the workspace's stage model (none: nothing to check)."""
    stored = StageStore(store).model(workspace_id)
    return [] if stored is None else unknown_stages(loaded, stored.model.names)


def segments_naming(segments: Iterable[Segment], stages: Set[str]) -> dict[str, list[str]]:
    """Segment id -> the ones of ``stages`` its conditions name (segments naming none are
    absent)."""
    found: dict[str, list[str]] = {}
    for segment in segments:
        for _, condition in walk(segment.where):
            if isinstance(condition, StageCondition):
                for name in condition.stage:
                    if name in stages and name not in found.get(segment.id, []):
                        found.setdefault(segment.id, []).append(name)
    return found
