"""The statistics of a split test: two proportions compared three ways, and the split itself.

* :func:`two_proportion_z_test`: the pooled z statistic, its two-sided p-value, and the
  (unpooled, Wald) confidence interval of the difference in conversion rate;
* :func:`probability_to_beat`: P(rate of B > rate of A) with uniform Beta(1, 1) priors, the
  exact finite sum for integer Beta parameters (Evan Miller's formula), not a simulation;
* :func:`sample_ratio_mismatch`: Pearson's chi-square test of the customers per variant
  against the split's weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import betaln
from scipy.stats import chi2, norm


@dataclass(frozen=True, kw_only=True, slots=True)
class ZTest:
    difference: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float


def two_proportion_z_test(
    control_conversions: int,
    control_n: int,
    variant_conversions: int,
    variant_n: int,
    confidence: float = 0.95,
) -> ZTest:
    """Variant minus control. ``z`` and ``p_value`` are NaN when both rates are 0 or 1."""
    p1, p2 = control_conversions / control_n, variant_conversions / variant_n
    pooled = (control_conversions + variant_conversions) / (control_n + variant_n)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / control_n + 1 / variant_n))
    difference = p2 - p1
    if se_pooled > 0:
        z = difference / se_pooled
        p_value = float(2 * norm.sf(abs(z)))
    else:
        z = p_value = math.nan
    se = math.sqrt(p1 * (1 - p1) / control_n + p2 * (1 - p2) / variant_n)
    margin = float(norm.ppf(0.5 + confidence / 2)) * se
    return ZTest(
        difference=difference,
        z=z,
        p_value=p_value,
        ci_low=difference - margin,
        ci_high=difference + margin,
    )


def probability_to_beat(
    control_conversions: int, control_n: int, variant_conversions: int, variant_n: int
) -> float:
    """P(p_variant > p_control) for Beta(1 + conversions, 1 + failures) posteriors."""
    a_a, b_a = 1 + control_conversions, 1 + control_n - control_conversions
    a_b, b_b = 1 + variant_conversions, 1 + variant_n - variant_conversions
    i = np.arange(a_b)
    terms = betaln(a_a + i, b_a + b_b) - np.log(b_b + i) - betaln(1 + i, b_b) - betaln(a_a, b_a)
    return float(min(1.0, max(0.0, np.exp(terms).sum())))


def sample_ratio_mismatch(customers: Sequence[int], weights: Sequence[float]) -> float:
    """The p-value of the customers per variant given the weights (variants with weight 0
    are left out); 1.0 when there is nothing to test."""
    pairs = [(n, w) for n, w in zip(customers, weights, strict=True) if w > 0]
    total, weight = sum(n for n, _ in pairs), sum(w for _, w in pairs)
    if len(pairs) < 2 or total == 0:
        return 1.0
    stat = sum((n - total * w / weight) ** 2 / (total * w / weight) for n, w in pairs)
    return float(chi2.sf(stat, len(pairs) - 1))
