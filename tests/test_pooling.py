"""Pooling of window scores (pipeline/pooling.py) against hand-computed values and VMAF's own examples."""

from __future__ import annotations

import math

import pytest

from vqa2cli.pipeline.pooling import POOL_METHODS, STATISTICS, pool_scores, pooled_probs


def test_hand_computed():
    p = pool_scores([0.2, 0.4, 0.9], [10, 10, 5])
    assert p["mean"] == pytest.approx(0.5)
    assert p["weighted_mean"] == pytest.approx((2 + 4 + 4.5) / 25)
    assert (p["min"], p["max"]) == (0.2, 0.9)
    # linear interpolation: rank 0.05 * (3 - 1) = 0.1 between 0.2 and 0.4
    assert p["p5"] == pytest.approx(0.2 + 0.1 * 0.2)
    assert p["stdev"] == pytest.approx(math.sqrt(((0.3) ** 2 + 0.1**2 + 0.4**2) / 3))
    h = 1 / ((1 / 21 + 1 / 41 + 1 / 91) / 3) - 1  # VMAF: on the 0-100 scale with +1
    assert p["harmonic_mean"] == pytest.approx(h / 100)
    assert set(p) == set(STATISTICS)


def test_vmaf_doctest_values():
    """vmaf/tools/stats.py ListStats doctests: [1..5, 11..15] → harmonic_mean 4.5223, perc5 1.45."""
    values = [1, 2, 3, 4, 5, 11, 12, 13, 14, 15]
    p = pool_scores([v / 100 for v in values], [1.0] * len(values))
    assert round(p["harmonic_mean"] * 100, 4) == 4.5223
    assert round(p["p5"] * 100, 2) == 1.45


def test_harmonic_mean_is_pulled_down_by_a_bad_window_and_finite_at_zero():
    p = pool_scores([0.0, 0.8, 0.8, 0.8], [10] * 4)
    assert math.isfinite(p["harmonic_mean"])
    assert p["min"] <= p["harmonic_mean"] < p["mean"]


def test_single_window_all_equal():
    p = pool_scores([0.63], [7.0])
    assert all(p[k] == pytest.approx(0.63) for k in STATISTICS if k != "stdev") and p["stdev"] == 0


def test_errors():
    with pytest.raises(ValueError):
        pool_scores([], [])
    with pytest.raises(ValueError):
        pool_scores([0.5], [1, 2])
    with pytest.raises(ValueError):
        pool_scores([0.5], [0])


def test_pool_methods_are_statistics_and_probs_pool():
    assert set(POOL_METHODS) <= set(STATISTICS)
    probs = pooled_probs([{"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 1.0}], [3, 1])
    assert probs == pytest.approx({"a": 0.75, "b": 0.25})
