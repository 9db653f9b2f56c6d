"""Attribution: every model on a hand-computed log, on DuckDB and PostgreSQL, the exact
Markov chain against ChannelAttribution's simulation, and Shapley against the definition."""

from __future__ import annotations

import itertools
import math
import random
from datetime import timedelta

import pandas as pd
import pytest

from tests.integration.insights.conftest import ev, load
from wayline.analytics.attribution import attribution, shapley
from wayline.analytics.fields import BadParameter, Scope
from wayline.analytics.markov import Chain, PathCount, shares
from wayline.analytics.warehouse import Warehouse

H = timedelta(hours=1)
D = timedelta(days=1)


def src(name: str) -> dict[str, object]:
    return {"campaign": {"source": name}}


#: u1: email (day 0), ads (day 1), social (day 2), converts 100 on day 3, then email again
#: and converts 20 on day 4; u2: ads, converts 50; u3: email, social, no conversion;
#: u4: converts 10 with no touch.
LOG = [
    ev("u1", "Page Viewed", 0 * D, context=src("email")),
    ev("u1", "Page Viewed", 1 * D, context=src("ads")),
    ev("u1", "Page Viewed", 2 * D, context=src("social")),
    ev("u1", "Order Completed", 3 * D, {"revenue": 100}),
    ev("u1", "Page Viewed", 3 * D + H, context=src("email")),
    ev("u1", "Order Completed", 4 * D, {"revenue": 20}),
    ev("u2", "Page Viewed", 0 * D, context=src("ads")),
    ev("u2", "Order Completed", 1 * D, {"revenue": 50}),
    ev("u3", "Page Viewed", 0 * D, context=src("email")),
    ev("u3", "Page Viewed", 1 * D, context=src("social")),
    ev("u4", "Order Completed", 0 * D, {"revenue": 10}),
]


def table(frame: pd.DataFrame, model: str) -> dict[object, tuple[float, float]]:
    mine = frame[frame["model"] == model]
    return {
        (None if pd.isna(r.channel) else r.channel): (r.conversions, r.revenue)
        for r in mine.itertuples()
        if r.conversions or r.revenue  # channels touched but given nothing are listed too
    }


def approx(d: dict[object, tuple[float, float]]) -> object:
    return {k: pytest.approx(v) for k, v in d.items()}


def test_every_touch_model_by_hand(warehouse: Warehouse, scope: Scope) -> None:
    load(warehouse, LOG)
    frame = attribution(warehouse, scope, half_life_days=1)
    none = (1.0, 10.0)
    assert table(frame, "first_touch") == approx({"email": (2, 120), "ads": (1, 50), None: none})
    assert table(frame, "last_touch") == approx(
        {"social": (1, 100), "email": (1, 20), "ads": (1, 50), None: none}
    )
    third = 1 / 3
    assert table(frame, "linear") == approx(
        {
            "email": (third + 1, 100 * third + 20),
            "ads": (third + 1, 100 * third + 50),
            "social": (third, 100 * third),
            None: none,
        }
    )
    # ages 3, 2 and 1 days; half-life 1 day: weights 1/8, 1/4, 1/2 → 1/7, 2/7, 4/7
    assert table(frame, "time_decay") == approx(
        {
            "email": (1 / 7 + 1, 100 / 7 + 20),
            "ads": (2 / 7 + 1, 200 / 7 + 50),
            "social": (4 / 7, 400 / 7),
            None: none,
        }
    )
    assert table(frame, "position_based") == approx(
        {"email": (1.4, 60), "ads": (1.2, 70), "social": (0.4, 40), None: none}
    )
    for model in ("first_touch", "linear", "time_decay", "markov", "shapley"):
        assert frame[frame["model"] == model]["conversions"].sum() == pytest.approx(4)
        assert frame[frame["model"] == model]["revenue"].sum() == pytest.approx(180)


def test_markov_by_hand(warehouse: Warehouse, scope: Scope) -> None:
    load(warehouse, LOG)
    # Paths: email>ads>social (conv 100), email (conv 20), ads (conv 50), email>social (null).
    # start→email 3/4, start→ads 1/4; email→ads 1/3, email→social 1/3, email→conv 1/3;
    # ads→social 1/2, ads→conv 1/2; social→conv 1/2, social→null 1/2.
    # P(social)=1/2; P(ads)=1/2+1/4=3/4; P(email)=1/3·3/4+1/3·1/2+1/3 = 3/4;
    # P = 3/4·3/4 + 1/4·3/4 = 3/4.
    # Without email: 1/4·3/4 = 3/16 → effect 3/4. Without ads: email→ 1/3·1/2+1/3 = 1/2,
    # P = 3/4·1/2 = 3/8 → 1/2. Without social: ads→1/2; email→1/6+1/3=1/2;
    # P = 3/4·1/2+1/4·1/2 = 1/2 → 1/3. Shares 9/19, 6/19, 4/19 of 3 conversions.
    frame = attribution(warehouse, scope, models=["markov"])
    conversions = {k: v[0] for k, v in table(frame, "markov").items()}
    assert conversions == pytest.approx(
        {"email": 27 / 19, "ads": 18 / 19, "social": 12 / 19, None: 1}
    )


def test_shapley_is_the_shapley_value_of_the_coalition_game() -> None:
    paths = [
        PathCount(["a", "b", "a"], 3, 1, 30.0),
        PathCount(["b"], 2, 5, 10.0),
        PathCount(["c", "a"], 1, 0, 7.0),
        PathCount(["c"], 0, 4, 0.0),
    ]
    players = ["a", "b", "c"]

    def worth(coalition: set[str]) -> float:
        return sum(p.conversions for p in paths if set(p.path) <= coalition and p.path)

    n = len(players)
    expected = {}
    for c in players:
        others = [p for p in players if p != c]
        value = 0.0
        for size in range(n):
            for s in itertools.combinations(others, size):
                weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
                value += weight * (worth({*s, c}) - worth(set(s)))
        expected[c] = value
    ours = {c: v[0] for c, v in shapley(paths).items()}
    assert ours == pytest.approx(expected)
    assert ours == pytest.approx({"a": 1.5 + 0.5, "b": 1.5 + 2, "c": 0.5})


def test_markov_higher_orders_by_hand() -> None:
    # a>b converts, c>b does not. At order 1, b is one state (half of it converts), so a
    # and c each carry half the probability: effects a 1/2, b 1, c 1/2. At order 2 the
    # states (a,b) and (c,b) tell them apart: effects a 1, b 1, c 0.
    paths = [PathCount(["a", "b"], 1, 0), PathCount(["c", "b"], 0, 1)]
    assert shares(Chain(paths, 1).removal_effects()) == pytest.approx(
        {"a": 0.25, "b": 0.5, "c": 0.25}
    )
    assert Chain(paths, 2).conversion_probability() == pytest.approx(0.5)
    assert shares(Chain(paths, 2).removal_effects()) == pytest.approx(
        {"a": 0.5, "b": 0.5, "c": 0.0}
    )
    loop = [PathCount(["a", "b", "a", "b"], 1, 0), PathCount(["a", "a", "b"], 0, 1)]
    for order in (1, 2, 3):
        effects = Chain(loop, order).removal_effects()
        assert effects["a"] == pytest.approx(1.0)
        assert effects["b"] == pytest.approx(1.0)
    # order 3 tells a>b>a>b (converts) from a>a>b (does not)
    assert Chain(loop, 3).conversion_probability() == pytest.approx(0.5)


def test_lookback_and_bad_parameters(warehouse: Warehouse, scope: Scope) -> None:
    load(warehouse, LOG)
    frame = attribution(warehouse, scope, models=["first_touch"], lookback_days=1.5)
    # only social (1 day before) counts for u1's first order; email for the second
    assert table(frame, "first_touch") == approx(
        {"social": (1, 100), "email": (1, 20), "ads": (1, 50), None: (1, 10)}
    )
    # the path models read the same paths: one touch each, and u4's order has none
    paths = attribution(warehouse, scope, models=["shapley", "markov"], lookback_days=1.5)
    assert table(paths, "shapley") == table(frame, "first_touch")
    markov = table(paths, "markov")
    assert markov[None] == pytest.approx((1, 10))
    assert sum(c for c, _ in markov.values()) == pytest.approx(4)
    assert sum(v for _, v in markov.values()) == pytest.approx(180)
    # within half a day no order has a touch: all four are on no channel, for every model
    half = attribution(warehouse, scope, models=["linear", "shapley"], lookback_days=0.5)
    assert table(half, "linear") == table(half, "shapley") == approx({None: (4, 180)})
    for kwargs, name in [
        ({"models": ["magic"]}, "models"),
        ({"half_life_days": 0}, "half_life_days"),
        ({"markov_order": 4}, "markov_order"),
        ({"by": "nowhere"}, "by"),
        ({"revenue": "properties."}, "revenue"),
        ({"lookback_days": -1}, "lookback_days"),
    ]:
        with pytest.raises(BadParameter) as caught:
            attribution(warehouse, scope, **kwargs)  # type: ignore[arg-type]
        assert caught.value.parameter == name


def test_by_campaign_and_any_field(warehouse: Warehouse, scope: Scope) -> None:
    load(
        warehouse,
        [
            ev("u1", "Email Opened", 0 * D, {"journey_id": "welcome"}),
            ev("u1", "Order Completed", D, {"revenue": 5, "country": "FR"}),
        ],
    )
    assert table(attribution(warehouse, scope, by="journey", models=["linear"]), "linear") == {
        "welcome": (1.0, 5.0)
    }
    frame = attribution(warehouse, scope, by="properties.country", models=["last_touch"])
    assert table(frame, "last_touch") == {"FR": (1.0, 5.0)}


# -- ChannelAttribution -------------------------------------------------------------------


def random_paths(seed: int) -> list[tuple[list[str], int, float]]:
    """(path, converted, revenue) of 400 customers; some channels convert better."""
    rng = random.Random(seed)
    channels = ["search", "social", "email", "display"]
    bias = {"search": 0.5, "social": 0.1, "email": 0.3, "display": 0.05}
    out = []
    for _ in range(400):
        path = [rng.choice(channels) for _ in range(rng.randrange(1, 5))]
        converts = rng.random() < sum(bias[c] for c in set(path)) / 1.5
        out.append((path, int(converts), float(rng.choice([10, 50, 200])) if converts else 0.0))
    return out


def test_markov_agrees_with_channel_attribution(warehouse: Warehouse, scope: Scope) -> None:
    import ChannelAttribution as ca

    generated = random_paths(3)
    events = []
    for i, (path, conv, value) in enumerate(generated):
        for j, channel in enumerate(path):
            events.append(ev(f"c{i}", "Page Viewed", j * H, context=src(channel)))
        if conv:
            events.append(ev(f"c{i}", "Order Completed", len(path) * H, {"revenue": value}))
    load(warehouse, events)

    grouped: dict[str, list[float]] = {}
    for path, conv, value in generated:
        counts = grouped.setdefault(">".join(path), [0, 0, 0.0])
        counts[0] += conv
        counts[1] += 1 - conv
        counts[2] += value
    data = pd.DataFrame(
        {
            "path": list(grouped),
            "conv": [int(c[0]) for c in grouped.values()],
            "null": [int(c[1]) for c in grouped.values()],
            "value": [c[2] for c in grouped.values()],
        }
    )
    for order in (1, 2, 3):
        frame = attribution(warehouse, scope, models=["markov"], markov_order=order)
        ours = table(frame, "markov")
        theirs = ca.markov_model(
            data,
            "path",
            "conv",
            var_value="value",
            var_null="null",
            order=order,
            nsim_start=1e6,
            conv_par=0.01,
            verbose=False,
            flg_pro=False,
            seed=1,
        )
        assert set(ours) == set(theirs["channel_name"])
        for row in theirs.itertuples():
            # ChannelAttribution simulates the chain; ours is exact: within its error
            got = ours[row.channel_name]
            assert got[0] == pytest.approx(row.total_conversions, rel=0.05), (order, row)
            assert got[1] == pytest.approx(row.total_conversion_value, rel=0.05), (order, row)
        assert sum(v[0] for v in ours.values()) == pytest.approx(data["conv"].sum())
        assert sum(v[1] for v in ours.values()) == pytest.approx(data["value"].sum())


def test_a_conversion_carrying_the_channel_is_its_own_last_touch(
    warehouse: Warehouse, scope: Scope
) -> None:
    order = "Order Completed"
    load(
        warehouse,
        [
            ev("u1", "Page Viewed", 0 * H, context=src("email")),
            ev("u1", order, H, {"revenue": 5}, context=src("ads")),
            ev("u1", order, H, {"revenue": 7}, context=src("social")),  # same moment
        ],
    )
    frame = attribution(warehouse, scope, models=["first_touch", "last_touch"])
    assert table(frame, "first_touch") == {"email": (1.0, 5.0), "social": (1.0, 7.0)}
    assert table(frame, "last_touch") == {"ads": (1.0, 5.0), "social": (1.0, 7.0)}
