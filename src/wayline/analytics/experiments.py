"""Experiments: each split of a journey, its variants against the control, and a verdict.

A customer is in a variant from the moment a split sends them there (the ``branched``
step the split node writes, ``variant NAME``); they convert when the journey's goal is
reached after that. Counted per customer, in the state store's journey tables, with one
SQL aggregation; the statistics are in :mod:`wayline.analytics.significance`.

The control is the variant named ``control`` (the holdout, which is sent nothing), else
the first variant of the split. A variant's verdict:

* ``not enough data yet`` until it and the control each have ``min_customers`` customers
  and the two together ``min_conversions`` conversions;
* ``sample ratio mismatch`` when the customers per variant are too unlikely under the
  split's weights (p < 0.001): the assignment is broken, so no result can be trusted;
* else ``better`` or ``worse`` when the z-test's p-value is below ``1 - confidence``,
  ``no significant difference`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pandas as pd
import sqlalchemy as sa

from wayline.analytics.fields import BadParameter, UnknownJourney
from wayline.analytics.significance import (
    probability_to_beat,
    sample_ratio_mismatch,
    two_proportion_z_test,
)
from wayline.journeys.nodes import CONTROL, SplitNode
from wayline.journeys.spec import Journey
from wayline.store import schema
from wayline.store.journeys import JourneyStore
from wayline.store.sql import SqlStore

#: The reason a split's ``branched`` step starts with (``variant NAME``).
_VARIANT_PREFIX: Final = "variant "
#: Below this SRM p-value the split is reported as broken.
SRM_THRESHOLD: Final = 0.001
NOT_ENOUGH_DATA: Final = "not enough data yet"

COLUMNS: Final = [
    "split",
    "variant",
    "control",
    "weight",
    "customers",
    "conversions",
    "conversion_rate",
    "difference",
    "uplift",
    "ci_low",
    "ci_high",
    "z",
    "p_value",
    "probability_to_beat_control",
    "srm_p_value",
    "verdict",
]


@dataclass(frozen=True, slots=True)
class Arm:
    split: str
    variant: str
    customers: int
    conversions: int


def arms(store: SqlStore, workspace_id: str, journey_id: str, splits: list[str]) -> list[Arm]:
    """Customers and converted customers per split node and variant (one query)."""
    s = schema.journey_steps
    branched = s.alias("branched")
    goal = s.alias("goal")
    prefix = len(_VARIANT_PREFIX)
    variant = sa.func.substr(branched.c.reason, prefix + 1).label("variant")
    converted = sa.exists().where(
        goal.c.instance_id == branched.c.instance_id,
        goal.c.kind == "goal",
        goal.c.at >= branched.c.at,
    )
    per_customer = (
        sa.select(
            branched.c.node.label("split"),
            variant,
            branched.c.profile_id,
            sa.func.max(sa.case((converted, 1), else_=0)).label("converted"),
        )
        .where(
            branched.c.workspace_id == workspace_id,
            branched.c.journey_id == journey_id,
            branched.c.kind == "branched",
            branched.c.node.in_(splits),
            branched.c.reason.startswith(_VARIANT_PREFIX),
        )
        .group_by(branched.c.node, variant, branched.c.profile_id)
        .subquery()
    )
    query = sa.select(
        per_customer.c.split,
        per_customer.c.variant,
        sa.func.count().label("customers"),
        sa.func.sum(per_customer.c.converted).label("conversions"),
    ).group_by(per_customer.c.split, per_customer.c.variant)
    with store.engine.connect() as conn:
        return [
            Arm(r.split, r.variant, int(r.customers), int(r.conversions or 0))
            for r in conn.execute(query)
        ]


def experiments(
    store: SqlStore,
    workspace_id: str,
    journey_id: str,
    *,
    confidence: float = 0.95,
    min_customers: int = 100,
    min_conversions: int = 10,
) -> pd.DataFrame:
    """One row per split and variant of the journey's current version (columns
    :data:`COLUMNS`); the control's row has ``control`` true and no comparison."""
    if not 0.5 <= confidence < 1:
        raise BadParameter("confidence", "is between 0.5 and 1, like 0.95")
    if min_customers < 1:
        raise BadParameter("min_customers", "must be at least 1")
    if min_conversions < 0:
        raise BadParameter("min_conversions", "must be 0 or more")
    journeys = JourneyStore(store)
    record = journeys.journey(workspace_id, journey_id)
    if record is None:
        raise UnknownJourney(journey_id)
    spec = Journey.model_validate(journeys.spec(workspace_id, journey_id, record.version))
    if spec.goal is None:
        raise BadParameter(
            "journey", f"{journey_id!r} has no goal, so its variants have no conversion to compare"
        )
    splits = [n for n in spec.nodes if isinstance(n, SplitNode)]
    counted = {
        (a.split, a.variant): a
        for a in arms(store, workspace_id, journey_id, [n.id for n in splits])
    }
    rows: list[dict[str, Any]] = []
    for node in splits:
        names = list(node.variants)
        control = CONTROL if CONTROL in names else names[0]
        got = {v: counted.get((node.id, v), Arm(node.id, v, 0, 0)) for v in names}
        srm = sample_ratio_mismatch(
            [got[v].customers for v in names], [float(node.variants[v]) for v in names]
        )
        base = got[control]
        for name in names:
            arm = got[name]
            row: dict[str, Any] = dict.fromkeys(COLUMNS)
            row |= {
                "split": node.id,
                "variant": name,
                "control": name == control,
                "weight": node.variants[name],
                "customers": arm.customers,
                "conversions": arm.conversions,
                "conversion_rate": arm.conversions / arm.customers if arm.customers else None,
                "srm_p_value": srm,
            }
            if name != control:
                row |= _compare(base, arm, confidence, min_customers, min_conversions, srm)
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _compare(
    control: Arm,
    arm: Arm,
    confidence: float,
    min_customers: int,
    min_conversions: int,
    srm: float,
) -> dict[str, Any]:
    enough = (
        min(control.customers, arm.customers) >= min_customers
        and control.conversions + arm.conversions >= min_conversions
    )
    if not enough or not control.customers or not arm.customers:
        return {"verdict": NOT_ENOUGH_DATA}
    test = two_proportion_z_test(
        control.conversions, control.customers, arm.conversions, arm.customers, confidence
    )
    control_rate = control.conversions / control.customers
    if srm < SRM_THRESHOLD:
        verdict = "sample ratio mismatch"
    elif test.p_value < 1 - confidence:
        verdict = "better" if test.difference > 0 else "worse"
    else:
        verdict = "no significant difference"
    return {
        "difference": test.difference,
        "uplift": test.difference / control_rate if control_rate else None,
        "ci_low": test.ci_low,
        "ci_high": test.ci_high,
        "z": test.z,
        "p_value": test.p_value,
        "probability_to_beat_control": probability_to_beat(
            control.conversions, control.customers, arm.conversions, arm.customers
        ),
        "verdict": verdict,
    }
