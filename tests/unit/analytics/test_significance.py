"""The split-test statistics against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest

from wayline.analytics.significance import (
    probability_to_beat,
    sample_ratio_mismatch,
    two_proportion_z_test,
)


def test_z_test_by_hand() -> None:
    # control 100/1000 = 10 %, variant 130/1000 = 13 %; pooled 11.5 %
    result = two_proportion_z_test(100, 1000, 130, 1000)
    se_pooled = math.sqrt(0.115 * 0.885 * 2 / 1000)  # 0.014267
    assert result.difference == pytest.approx(0.03)
    assert result.z == pytest.approx(0.03 / se_pooled)
    assert result.z == pytest.approx(2.1027, abs=1e-4)
    assert result.p_value == pytest.approx(math.erfc(result.z / math.sqrt(2)))
    assert result.p_value == pytest.approx(0.03549, abs=1e-5)
    se = math.sqrt(0.1 * 0.9 / 1000 + 0.13 * 0.87 / 1000)  # 0.014283
    assert result.ci_low == pytest.approx(0.03 - 1.959964 * se)
    assert result.ci_high == pytest.approx(0.03 + 1.959964 * se)
    wide = two_proportion_z_test(100, 1000, 130, 1000, confidence=0.99)
    assert wide.ci_high - wide.ci_low == pytest.approx(2 * 2.575829 * se)


def test_z_test_with_no_variation_has_no_p_value() -> None:
    result = two_proportion_z_test(0, 50, 0, 60)
    assert math.isnan(result.p_value)
    assert (result.difference, result.ci_low, result.ci_high) == (0, 0, 0)


def test_probability_to_beat_by_hand() -> None:
    # A: 0 of 1 → Beta(1, 2), density 2(1-x); B: 1 of 1 → Beta(2, 1), density 2y.
    # P(B > A) = ∫ 2y ∫_0^y 2(1-x) dx dy = ∫ 4y² - 2y³ dy = 4/3 - 1/2 = 5/6
    assert probability_to_beat(0, 1, 1, 1) == pytest.approx(5 / 6)
    assert probability_to_beat(1, 1, 0, 1) == pytest.approx(1 / 6)
    # identical data: a coin toss
    assert probability_to_beat(30, 100, 30, 100) == pytest.approx(0.5)
    assert probability_to_beat(100, 1000, 130, 1000) > 0.98


def test_sample_ratio_mismatch_by_hand() -> None:
    # 50/50 split, 520 vs 480: chi² = (20² + 20²) / 500 = 1.6, 1 df → p = erfc(√0.8)
    assert sample_ratio_mismatch([520, 480], [50, 50]) == pytest.approx(math.erfc(math.sqrt(0.8)))
    assert sample_ratio_mismatch([600, 400], [50, 50]) < 1e-9
    # 90/10 with 900 vs 100 is exactly as expected
    assert sample_ratio_mismatch([900, 100], [90, 10]) == pytest.approx(1.0)
    assert sample_ratio_mismatch([0, 0], [50, 50]) == 1.0
