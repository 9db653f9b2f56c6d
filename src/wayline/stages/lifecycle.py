"""Applying a workspace's stage model: store it, then place every customer from history.

Placing from history is quiet: customers get their current stage (the furthest entered,
dated when they entered it), but no ``Stage Entered`` events, neither for the first model
nor for an edit: timelines are not flooded with the past, and nothing is announced for a
change of definition rather than of behaviour. From then on the tracker announces every
change as events arrive. The typical time in each stage (what ``stall_factor`` multiplies)
is worked out in the same pass; applying the model again refreshes it.

The tracker's cursor is held meanwhile, so no event is placed with a half-applied model.
"""

from __future__ import annotations

from dataclasses import dataclass

from wayline.analytics.stage_model import StageModelError, load_stage_model
from wayline.clock import Clock
from wayline.segments.store import SegmentStore
from wayline.stages.checks import segments_naming
from wayline.stages.placement import Entry, moves, typical_seconds
from wayline.stages.store import STAGES_CONSUMER, Place, StageStore, recheck_segments
from wayline.stages.tracker import histories
from wayline.store.sql import SqlStore

#: Customers placed per round when a model is applied.
CHUNK = 2000


@dataclass(frozen=True, kw_only=True)
class AppliedModel:
    version: int
    #: created | changed | unchanged
    state: str
    #: Customers in some stage now.
    placed: int


def apply_stage_model(
    store: SqlStore, clock: Clock, workspace_id: str, text: str, source: str = "<stages>"
) -> AppliedModel:
    """Check and store a workspace's stage model (YAML) and place every customer by it.

    Raises :class:`~wayline.analytics.stage_model.StageModelError` for an invalid model,
    and for one that drops (or renames) a stage of the current model that a stored
    segment's condition names, before anything is stored."""
    model = load_stage_model(text, source)
    stages = StageStore(store)
    now = clock.now()
    placed = 0
    with store._write() as conn:
        store._lock_cursor(conn, STAGES_CONSUMER)
        before = stages.models(conn, workspace_id).get(workspace_id)
        dropped = set(before.model.names if before else ()) - set(model.names)
        records = SegmentStore(store).records(conn, workspace_id)
        missing = segments_naming((r.segment for r in records), dropped)
        if missing:
            used = "; ".join(
                f"segment {segment_id!r} uses {', '.join(map(repr, names))}"
                for segment_id, names in missing.items()
            )
            raise StageModelError(
                f"{source}: the model drops stages that segments use ({used}); "
                "change those segments first"
            )
        version, state = stages.save(conn, workspace_id, text, now)
        stored = stages.models(conn, workspace_id)[workspace_id]
        names = stored.model.names
        stages.clear(conn, workspace_id)
        every: list[list[Entry]] = []
        profiles = SegmentStore(store).profile_ids(conn, workspace_id)
        for start in range(0, len(profiles), CHUNK):
            found = histories(store, conn, stored, profiles[start : start + CHUNK])
            places: dict[str, Place] = {}
            for profile_id, history in found.items():
                steps = moves(history, None, None)
                if not steps:
                    continue
                last = steps[-1]
                places[profile_id] = Place(
                    stage=names[last.index],
                    entered_at=last.at,
                    previous_stage=None if last.previous is None else names[last.previous],
                )
                every.append(history)
            stages.put(conn, workspace_id, places)
            recheck_segments(store, conn, workspace_id, dict.fromkeys(found, now))
            placed += len(places)
        typical = typical_seconds(every, len(names))
        stages.set_typical(conn, workspace_id, {names[i]: s for i, s in typical.items()})
    return AppliedModel(version=version, state=state, placed=placed)
