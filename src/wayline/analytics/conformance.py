"""Conformance: how far real behaviour is from a designed journey, and where it departs.

The designed journey is a sequence of activities: given directly (a stage sequence, a
list of events) or read from a journey spec (:func:`designed_sequence`). Each customer's
trace is aligned to it with the costs of the standard alignment (a synchronous move costs
nothing, a move on the log only or on the model only costs 1), so for a sequence the
optimal cost is ``n + m - 2·LCS``. The fitness is that of pm4py's alignment-based
``fitness_alignments`` on the same log and a sequential Petri net:

* per trace: ``1 - cost / (n + m)`` (``n`` events, ``m`` model steps);
* ``log_fitness``: ``1 - Σ cost / Σ (n + m)``; ``average_trace_fitness``: their mean.

Traces are built in the warehouse and grouped (one row per distinct trace), so each
distinct trace is aligned once, however many customers took it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from wayline.analytics.cases import event_log, split_path, traces
from wayline.analytics.fields import BadParameter, Scope
from wayline.analytics.warehouse import Warehouse
from wayline.journeys.entries import EventEntry
from wayline.journeys.nodes import WaitForEventNode
from wayline.journeys.spec import Journey

SKIPPED = "skipped"
UNEXPECTED = "unexpected"


def designed_sequence(journey: Journey) -> list[str]:
    """The events a journey expects, in order: its entry event, each ``wait_for_event``
    in the order of the file, then its goal."""
    sequence: list[str] = []
    if isinstance(journey.entry, EventEntry):
        sequence.append(journey.entry.event)
    sequence += [n.event for n in journey.nodes if isinstance(n, WaitForEventNode)]
    if journey.goal is not None:
        sequence.append(journey.goal.event)
    return sequence


@dataclass(frozen=True, slots=True)
class Move:
    #: skipped (a model step the customer did not do) | unexpected (an event off the model)
    kind: str
    activity: str
    #: skipped: the model step (1-based); unexpected: the model steps done before it.
    position: int


def align(trace: Sequence[str], model: Sequence[str]) -> list[Move]:
    """An optimal alignment's deviations (empty when the trace fits)."""
    n, m = len(trace), len(model)
    lcs = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            lcs[i][j] = (
                lcs[i + 1][j + 1] + 1 if trace[i] == model[j] else max(lcs[i + 1][j], lcs[i][j + 1])
            )
    moves: list[Move] = []
    i = j = 0
    while i < n or j < m:
        if i < n and j < m and trace[i] == model[j] and lcs[i][j] == lcs[i + 1][j + 1] + 1:
            i, j = i + 1, j + 1
        elif j < m and (i == n or lcs[i][j + 1] >= lcs[i + 1][j]):
            moves.append(Move(SKIPPED, model[j], j + 1))
            j += 1
        else:
            moves.append(Move(UNEXPECTED, trace[i], j))
            i += 1
    return moves


@dataclass(kw_only=True)
class Conformance:
    model: list[str]
    cases: int = 0
    fitting_cases: int = 0
    log_fitness: float = 1.0
    average_trace_fitness: float = 1.0
    #: One row per deviation: kind, activity, position, cases, occurrences.
    deviations: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "cases": self.cases,
            "fitting_cases": self.fitting_cases,
            "log_fitness": self.log_fitness,
            "average_trace_fitness": self.average_trace_fitness,
            "deviations": self.deviations.to_dict(orient="records"),
        }


def conformance(
    warehouse: Warehouse,
    scope: Scope,
    model: Sequence[str],
    activity: str = "event",
    *,
    project: bool = True,
    include_internal: bool = False,
) -> Conformance:
    """Fitness of the customers' traces to ``model`` and where they deviate.

    ``project`` (default) keeps only the events whose activity is in the model, so that
    unrelated events (page views, say) are not counted as deviations; customers with none
    of them are not cases. The events Wayline records itself (``Segment Entered``…) are
    left out unless ``include_internal``, or unless the model names them.
    """
    steps = list(model)
    if not steps:
        raise BadParameter("model", "the designed journey has no steps")
    log = event_log(
        warehouse,
        scope,
        activity,
        only=steps if project else None,
        include_internal=include_internal,
        named=steps if activity == "event" else (),
    )
    grouped = traces(log)
    m = len(steps)
    cost_sum = worst_sum = 0
    trace_fitness_sum = 0.0
    cases = fitting = 0
    case_count: Counter[Move] = Counter()
    occurrences: Counter[Move] = Counter()
    for batch in warehouse.execute(grouped.select("path", "cases")).to_batches():
        for row in batch.to_pylist():
            trace, weight = split_path(row["path"]), int(row["cases"])
            moves = align(trace, steps)
            cost = len(moves)
            cases += weight
            cost_sum += cost * weight
            worst_sum += (len(trace) + m) * weight
            trace_fitness_sum += (1 - cost / (len(trace) + m)) * weight
            fitting += weight if cost == 0 else 0
            for move, times in Counter(moves).items():
                case_count[move] += weight
                occurrences[move] += times * weight
    deviations = pd.DataFrame(
        [
            {
                "kind": mv.kind,
                "activity": mv.activity,
                "position": mv.position,
                "cases": n,
                "occurrences": occurrences[mv],
            }
            for mv, n in case_count.items()
        ],
        columns=["kind", "activity", "position", "cases", "occurrences"],
    )
    if not deviations.empty:
        deviations = deviations.sort_values(
            ["cases", "position", "kind", "activity"], ascending=[False, True, True, True]
        ).reset_index(drop=True)
    return Conformance(
        model=steps,
        cases=cases,
        fitting_cases=fitting,
        log_fitness=1 - cost_sum / worst_sum if worst_sum else 1.0,
        average_trace_fitness=trace_fitness_sum / cases if cases else 1.0,
        deviations=deviations,
    )
