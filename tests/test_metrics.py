"""Eval metrics against values derived by hand (no scipy in the expected values)."""

from __future__ import annotations

import math
import random

import pytest

from vqa2cli.errors import DataError
from vqa2cli.jobs.metrics import correlations


def _avg_ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1  # mean of 1-based positions i+1..j+1
        i = j + 1
    return ranks


def _pearson(x, y):
    mx, my = sum(x) / len(x), sum(y) / len(y)
    cov = sum((a - mx) * (b - my) for a, b in zip(x, y))
    return cov / math.sqrt(sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y))


def _tau_b(x, y):
    conc = disc = tx = ty = 0
    n = len(x)
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif dx * dy > 0:
                conc += 1
            else:
                disc += 1
    return (conc - disc) / math.sqrt((conc + disc + tx) * (conc + disc + ty))


def test_three_points_by_hand():
    c = correlations([1, 2, 3], [1, 3, 2])
    # deviations (-1,0,1) and (-1,1,0): covariance 1, variances 2 and 2 -> 0.5; ranks equal the values
    assert c.plcc == pytest.approx(0.5)
    assert c.srcc == pytest.approx(0.5)
    # pairs: (1,2) concordant, (1,3) concordant, (2,3) discordant -> (2 - 1) / 3
    assert c.krcc == pytest.approx(1 / 3)
    assert c.n == 3


def test_ties_by_hand():
    c = correlations([1, 2, 2, 3], [1, 2, 3, 4])
    # ranks of x: 1, 2.5, 2.5, 4; Pearson of the ranks = 4.5 / sqrt(4.5 * 5) = sqrt(0.9)
    assert c.srcc == pytest.approx(math.sqrt(0.9))
    # raw: covariance 3, variances 2 and 5 -> 3 / sqrt(10)
    assert c.plcc == pytest.approx(3 / math.sqrt(10))
    # 5 concordant, 0 discordant, one pair tied in x only: 5 / sqrt(5 * 6)
    assert c.krcc == pytest.approx(5 / math.sqrt(30))


def test_negative_and_scale_invariance():
    c = correlations([0.9, 0.5, 0.1], [10, 50, 90])
    assert c.srcc == pytest.approx(-1.0)
    assert c.plcc == pytest.approx(-1.0)
    assert c.krcc == pytest.approx(-1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_sets_match_reference_formulas(seed):
    rng = random.Random(seed)
    n = 25
    pred = [round(rng.random(), 1) for _ in range(n)]  # rounding creates many ties
    mos = [round(p * 60 + rng.gauss(0, 15)) for p in pred]
    c = correlations(pred, mos)
    assert c.srcc == pytest.approx(_pearson(_avg_ranks(pred), _avg_ranks(mos)), abs=1e-12)
    assert c.plcc == pytest.approx(_pearson(pred, mos), abs=1e-12)
    assert c.krcc == pytest.approx(_tau_b(pred, mos), abs=1e-12)


def test_logistic_fit_linearises_a_monotone_curve():
    x = [i / 10 for i in range(11)]
    y = [20 + 60 / (1 + math.exp(-(v - 0.5) / 0.1)) for v in x]  # an exact 4-parameter logistic
    c = correlations(x, y)
    assert c.plcc < 0.99
    assert c.plcc_logistic == pytest.approx(1.0, abs=1e-6)
    assert c.srcc == pytest.approx(1.0)


@pytest.mark.parametrize(
    "pred, mos, words",
    [
        ([0.5, 0.5, 0.5], [1, 2, 3], "predicted scores are equal"),
        ([0.1, 0.2, 0.3], [4, 4, 4], "MOS values are equal"),
        ([0.1, 0.2], [1, 2], "at least 3"),
        ([0.1, 0.2, 0.3], [1, 2], "3 predictions but 2"),
        ([0.1, float("nan"), 0.3], [1, 2, 3], "NaN"),
    ],
)
def test_unusable_input_is_a_data_error(pred, mos, words):
    with pytest.raises(DataError, match=words):
        correlations(pred, mos)


def test_logistic_column_is_absent_below_five_points_with_a_note():
    c = correlations([1, 2, 3, 4], [1, 3, 2, 4])
    assert c.plcc_logistic is None
    assert any("at least 5" in n for n in c.notes)


def test_logistic4_far_from_its_centre_warns_nothing():
    """exp overflows far from b3: the curve's flat end, not a numpy RuntimeWarning on stderr."""
    import warnings

    import numpy as np

    from vqa2cli.jobs.metrics import logistic4

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = logistic4(np.array([-1.0, 0.5, 2.0]), 5.0, 1.0, 0.5, 1e-6)
    assert list(values) == [1.0, 3.0, 5.0]
