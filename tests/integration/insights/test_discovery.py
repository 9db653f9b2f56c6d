"""The discovered journey: the directly-follows graph, variants and conformance, checked by
hand and against pm4py on the same logs, on DuckDB and PostgreSQL."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.integration.insights.conftest import T0, WORKSPACE, ev, load
from wayline.analytics.conformance import Move, align, conformance, designed_sequence
from wayline.analytics.discovery import directly_follows, variants
from wayline.analytics.fields import BadParameter, Scope
from wayline.analytics.warehouse import Warehouse
from wayline.journeys.spec import Journey

H = timedelta(hours=1)

#: Three customers: A B C (1h, 2h apart), A C (3h), A B C (2h, 4h); one other workspace.
SMALL = [
    ev("u1", "A", 0 * H),
    ev("u1", "B", 1 * H),
    ev("u1", "C", 3 * H),
    ev("u2", "A", 0 * H),
    ev("u2", "C", 3 * H),
    ev("u3", "A", 1 * H),
    ev("u3", "B", 3 * H),
    ev("u3", "C", 7 * H),
]


def edges(frame: pd.DataFrame) -> dict[tuple[Any, Any], tuple[int, Any]]:
    out = {}
    for r in frame.itertuples():
        src = None if pd.isna(r.source) else r.source
        dst = None if pd.isna(r.target) else r.target
        sec = None if pd.isna(r.median_seconds) else float(r.median_seconds)
        out[(src, dst)] = (int(r.frequency), sec)
    return out


def test_directly_follows_by_hand(warehouse: Warehouse, scope: Scope) -> None:
    load(warehouse, SMALL)
    load(warehouse, [ev("x", "A", 0 * H), ev("x", "Z", H)], workspace="other")
    assert edges(directly_follows(warehouse, scope)) == {
        ("A", "B"): (2, 5400.0),  # 1h and 2h
        ("B", "C"): (2, 10800.0),  # 2h and 4h
        ("A", "C"): (1, 10800.0),
        (None, "A"): (3, None),
        ("C", None): (3, None),
    }


def test_directly_follows_median_with_repeated_gaps(warehouse: Warehouse, scope: Scope) -> None:
    # A -> B after 1h, 1h, 1h and 5h (even count: the mean of 1h and 1h); B -> C after
    # 2h, 2h and 9h (odd count: the middle one); C -> D after 2h and 4h (even: 3h)
    gaps = {"u1": (1, 2, 2), "u2": (1, 2, 4), "u3": (1, 9, None), "u4": (5, None, None)}
    events = []
    for who, (ab, bc, cd) in gaps.items():
        events += [ev(who, "A", 0 * H), ev(who, "B", ab * H)]
        if bc is not None:
            events.append(ev(who, "C", (ab + bc) * H))
        if bc is not None and cd is not None:
            events.append(ev(who, "D", (ab + bc + cd) * H))
    load(warehouse, events)
    found = edges(directly_follows(warehouse, scope))
    assert found[("A", "B")] == (4, 3600.0)
    assert found[("B", "C")] == (3, 7200.0)
    assert found[("C", "D")] == (2, 10800.0)
    assert found[(None, "A")] == (4, None)
    assert (found[("D", None)], found[("C", None)], found[("B", None)]) == (
        (2, None),
        (1, None),
        (1, None),
    )


def test_activity_from_a_property_and_time_range(warehouse: Warehouse) -> None:
    load(
        warehouse,
        [
            ev("u1", "Viewed", 0 * H, {"page": "home"}),
            ev("u1", "Viewed", 1 * H, {"page": "cart"}),
            ev("u1", "Viewed", 2 * H),
            ev("u1", "Viewed", 30 * H, {"page": "home"}),
        ],
    )
    scope = Scope(workspace_id=WORKSPACE, until=T0 + 24 * H)
    assert edges(directly_follows(warehouse, scope, activity="properties.page")) == {
        ("home", "cart"): (1, 3600.0),
        (None, "home"): (1, None),
        ("cart", None): (1, None),
    }


def test_variants_by_hand(warehouse: Warehouse, scope: Scope) -> None:
    load(warehouse, SMALL)
    frame = variants(warehouse, scope, top=5)
    assert frame["variant"].tolist() == [["A", "B", "C"], ["A", "C"]]
    assert frame["cases"].tolist() == [2, 1]
    assert frame["share"].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert frame["median_seconds"].tolist() == pytest.approx([4.5 * 3600, 3 * 3600])  # 3h, 6h; 3h
    assert variants(warehouse, scope, top=1)["cases"].tolist() == [2]
    with pytest.raises(BadParameter, match="top"):
        variants(warehouse, scope, top=0)


def test_alignment_by_hand() -> None:
    assert align(["A", "B", "C"], ["A", "B", "C"]) == []
    assert align(["A", "C"], ["A", "B", "C"]) == [Move("skipped", "B", 2)]
    assert align(["A", "X", "B"], ["A", "B", "C"]) == [
        Move("unexpected", "X", 1),
        Move("skipped", "C", 3),
    ]


def test_conformance_by_hand(warehouse: Warehouse, scope: Scope) -> None:
    load(warehouse, [*SMALL, ev("u4", "A", 0 * H), ev("u4", "X", H), ev("u4", "B", 2 * H)])
    result = conformance(warehouse, scope, ["A", "B", "C"], project=False)
    # u1, u3 fit (cost 0 of 6); u2 skips B (1 of 5); u4: X unexpected, C skipped (2 of 6)
    assert result.cases == 4
    assert result.fitting_cases == 2
    assert result.log_fitness == pytest.approx(1 - 3 / 23)
    assert result.average_trace_fitness == pytest.approx((1 + 1 + 4 / 5 + 4 / 6) / 4)
    rows = result.deviations.to_dict(orient="records")
    assert {"kind": "skipped", "activity": "B", "position": 2, "cases": 1, "occurrences": 1} in rows
    assert {
        "kind": "unexpected",
        "activity": "X",
        "position": 1,
        "cases": 1,
        "occurrences": 1,
    } in rows
    assert len(rows) == 3
    # projected on the model, X is not a deviation
    projected = conformance(warehouse, scope, ["A", "B", "C"])
    assert projected.log_fitness == pytest.approx(1 - 2 / 22)
    with pytest.raises(BadParameter, match="model"):
        conformance(warehouse, scope, [])


def test_designed_sequence_of_a_journey_spec() -> None:
    journey = Journey.model_validate(
        {
            "id": "cart",
            "entry": {"event": "Product Added"},
            "goal": {"event": "Order Completed"},
            "nodes": [
                {
                    "id": "wait",
                    "type": "wait_for_event",
                    "event": "Checkout Started",
                    "timeout": "1d",
                    "on_event": "done",
                    "on_timeout": "done",
                },
                {"id": "done", "type": "exit"},
            ],
        }
    )
    assert designed_sequence(journey) == ["Product Added", "Checkout Started", "Order Completed"]


# -- pm4py --------------------------------------------------------------------------------


def random_log(seed: int, customers: int = 60) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for c in range(customers):
        at = timedelta(minutes=rng.randrange(0, 600))
        for _ in range(rng.randrange(1, 7)):
            events.append(ev(f"c{c}", rng.choice("ABCDE"), at))
            at += timedelta(minutes=rng.randrange(1, 300))  # no ties within a case
    rng.shuffle(events)
    return events


def pm4py_frame(events: list[dict[str, Any]]) -> pd.DataFrame:
    import pm4py

    frame = pd.DataFrame(
        {
            "case:concept:name": [e["user"] for e in events],
            "concept:name": [e["event"] for e in events],
            "time:timestamp": pd.to_datetime([e["at"] for e in events], utc=True),
        }
    )
    return pm4py.format_dataframe(
        frame,
        case_id="case:concept:name",
        activity_key="concept:name",
        timestamp_key="time:timestamp",
    )


def test_dfg_and_variants_agree_with_pm4py(warehouse: Warehouse, scope: Scope) -> None:
    import pm4py

    events = random_log(7)
    load(warehouse, events)
    log = pm4py_frame(events)
    dfg, starts, ends = pm4py.discover_dfg(log)
    performance, _, _ = pm4py.discover_performance_dfg(log)
    ours = edges(directly_follows(warehouse, scope))
    theirs: dict[tuple[Any, Any], tuple[int, Any]] = {
        pair: (n, float(performance[pair]["median"])) for pair, n in dfg.items()
    }
    theirs |= {(None, a): (n, None) for a, n in starts.items()}
    theirs |= {(a, None): (n, None) for a, n in ends.items()}
    assert ours.keys() == theirs.keys()
    for key, (n, median) in theirs.items():
        assert ours[key][0] == n, key
        assert ours[key][1] == pytest.approx(median), key

    pm_variants = pm4py.get_variants(log)
    ours_v = variants(warehouse, scope, top=1000)
    assert {tuple(v): n for v, n in zip(ours_v["variant"], ours_v["cases"], strict=True)} == {
        tuple(v): n for v, n in pm_variants.items()
    }


def sequence_net(model: list[str]) -> tuple[Any, Any, Any]:
    from pm4py.objects.petri_net.obj import Marking, PetriNet
    from pm4py.objects.petri_net.utils import petri_utils

    net = PetriNet("designed")
    places = [PetriNet.Place(f"p{i}") for i in range(len(model) + 1)]
    for p in places:
        net.places.add(p)
    for i, activity in enumerate(model):
        t = PetriNet.Transition(f"t{i}", activity)
        net.transitions.add(t)
        petri_utils.add_arc_from_to(places[i], t, net)
        petri_utils.add_arc_from_to(t, places[i + 1], net)
    initial, final = Marking(), Marking()
    initial[places[0]] = 1
    final[places[-1]] = 1
    return net, initial, final


# pm4py's alignments build numpy.matrix objects, which numpy warns about; the suite turns
# warnings into errors, and this one is pm4py's to fix, not ours.
@pytest.mark.filterwarnings(
    "ignore:the matrix subclass is not the recommended way:PendingDeprecationWarning"
)
def test_fitness_agrees_with_pm4py_alignments(warehouse: Warehouse, scope: Scope) -> None:
    import pm4py

    events = random_log(11, customers=40)
    load(warehouse, events)
    model = ["A", "B", "C", "D"]
    net, im, fm = sequence_net(model)
    theirs = pm4py.fitness_alignments(pm4py_frame(events), net, im, fm)
    ours = conformance(warehouse, scope, model, project=False)
    assert ours.log_fitness == pytest.approx(theirs["log_fitness"])
    assert ours.average_trace_fitness == pytest.approx(theirs["average_trace_fitness"])
    assert ours.fitting_cases / ours.cases * 100 == pytest.approx(
        theirs["percentage_of_fitting_traces"]
    )


_ACROSS_DST = """
import sys
from datetime import UTC, datetime
sys.path.insert(0, sys.argv[2])
from tests.integration.insights.conftest import WORKSPACE, ev, load
from wayline.analytics.discovery import directly_follows
from wayline.analytics.fields import Scope
from wayline.analytics.warehouse_duckdb import DuckDBWarehouse

w = DuckDBWarehouse(sys.argv[1])
load(w, [ev("u1", "A", datetime(2026, 3, 29, 0, 30, tzinfo=UTC)),
         ev("u1", "B", datetime(2026, 3, 29, 1, 30, tzinfo=UTC))])
frame = directly_follows(w, Scope(workspace_id=WORKSPACE))
print(frame.dropna()["median_seconds"].tolist())
"""


def test_durations_across_a_daylight_saving_change(tmp_path: Path) -> None:
    # Paris moves its clocks at 01:00 UTC on 2026-03-29: one hour passes, not two.
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", _ACROSS_DST, str(tmp_path / "w.duckdb"), str(root)],
        env={**os.environ, "TZ": "Europe/Paris"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[3600.0]"
