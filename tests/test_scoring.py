import math

import pytest
import torch

from vqa2cli.pipeline.scoring import score_from_logits
from vqa2cli.records.results import official_scale

LEVELS = (" high", " good", " fair", " poor", " low")
PAPER = (1.0, 0.75, 0.5, 0.25, 0.0)
OFFICIAL = (1.0, 0.8, 0.6, 0.4, 0.2)


def test_score_matches_hand_computed_softmax():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0, -2.0])
    e = [math.exp(x) for x in (2.0, 1.0, 0.0, -1.0, -2.0)]
    probs = [x / sum(e) for x in e]
    expected = sum(p * w for p, w in zip(probs, PAPER))
    r = score_from_logits(logits, LEVELS, PAPER)
    assert r.score == pytest.approx(expected, abs=1e-6)
    assert r.level == "high" and list(r.probs) == ["high", "good", "fair", "poor", "low"]
    assert r.probs["fair"] == pytest.approx(probs[2], abs=1e-6)


def test_official_scale_is_affine_in_the_paper_score():
    for logits in (torch.randn(5) for _ in range(5)):
        paper = score_from_logits(logits, LEVELS, PAPER).score
        official = score_from_logits(logits, LEVELS, OFFICIAL).score
        assert official == pytest.approx(official_scale(paper), abs=1e-6)


def test_extremes_and_low_precision_input():
    assert score_from_logits(torch.tensor([50.0, 0, 0, 0, 0]), LEVELS, PAPER).score == pytest.approx(1.0)
    assert score_from_logits(torch.tensor([0, 0, 0, 0, 50.0]), LEVELS, PAPER).score == pytest.approx(
        0.0, abs=1e-6
    )
    half = score_from_logits(torch.tensor([1.0, 2.0, 3.0, 2.0, 1.0], dtype=torch.float16), LEVELS, PAPER)
    assert half.score == pytest.approx(0.5, abs=1e-6) and half.level == "fair"
