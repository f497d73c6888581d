"""How sure the model is: the spread of the level distribution behind a score (pure math, standard library).

A score is the mean level weight under the five level probabilities ``p`` (weights ``w`` = 1, .75, .5, .25, 0
on the paper's scale, pipeline/scoring.py). Its spread, carried next to ``score`` in every record and window:

============ ==============================================================================================
key          definition (``μ = Σ p_i w_i`` = the score; ``n`` levels)
============ ==============================================================================================
std          ``sqrt(Σ p_i (w_i − μ)²)``: the standard deviation of the level weight under ``p``, on the
             score's own 0–1 scale. 0 for a one-hot distribution; sqrt(0.125) ≈ 0.354 for the uniform one;
             at most 0.5 (half the mass on ``high``, half on ``low``).
entropy      ``−Σ p_i ln p_i / ln n``: the normalised Shannon entropy, 0 (one-hot) to 1 (uniform).
============ ==============================================================================================

A clip scored in windows carries its windows' spreads pooled by duration ``d_i``: ``std`` as the
duration-weighted root mean square ``sqrt(Σ d_i std_i² / Σ d_i)`` (the typical within-window spread; the
spread of the window scores themselves is ``pooled.stdev``), ``entropy`` as the duration-weighted mean.

What it is: a property of the model's own distribution (how much probability it puts on other levels), not an
error bar measured against human scores; that relation is not yet measured on the published weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

DEFAULT_WEIGHTS = (1.0, 0.75, 0.5, 0.25, 0.0)  # config.py scoring.weights default (paper scale)


def level_spread(probs: Iterable[float], weights: Sequence[float] = DEFAULT_WEIGHTS) -> dict[str, float]:
    """``{"std", "entropy"}`` of one level distribution ``probs`` (card order, summing to about 1: it is
    renormalised, records round to 6 digits) with the level ``weights`` (same length, 0–1 scale).

    Raises ``ValueError`` for a length mismatch, a negative probability or an all-zero distribution."""
    p = [float(x) for x in probs]
    if len(p) != len(weights) or len(p) < 2:
        raise ValueError(f"{len(p)} probabilities for {len(weights)} level weights")
    total = sum(p)
    if any(x < 0 or math.isnan(x) for x in p) or not total > 0:
        raise ValueError(f"not a probability distribution: {p}")
    p = [x / total for x in p]
    mean = sum(x * w for x, w in zip(p, weights))
    var = sum(x * (w - mean) ** 2 for x, w in zip(p, weights))
    entropy = -sum(x * math.log(x) for x in p if x > 0) / math.log(len(p))
    return {"std": math.sqrt(max(var, 0.0)), "entropy": min(max(entropy, 0.0), 1.0)}


def pooled_spread(spreads: Sequence[Mapping[str, float]], durations: Sequence[float]) -> dict[str, float]:
    """The windows' spreads pooled by duration (seconds): RMS of ``std``, mean of ``entropy``."""
    d = [x if x > 0 else 1e-9 for x in durations]
    total = sum(d)
    return {
        "std": math.sqrt(sum(s["std"] ** 2 * w for s, w in zip(spreads, d)) / total),
        "entropy": sum(s["entropy"] * w for s, w in zip(spreads, d)) / total,
    }


def record_spread(
    probs: Mapping[str, float] | None,
    segments: Sequence[Mapping[str, Any]] | None,
    config: Mapping[str, Any] | None,
) -> dict[str, float] | None:
    """The ``spread`` of a score record: from its windows (pooled) when it has them, else from ``probs``;
    the level weights are the record's resolved ``scoring.weights`` (``config``), else the defaults.
    None when there is nothing to derive it from (an error record)."""
    weights = tuple(((config or {}).get("scoring") or {}).get("weights") or DEFAULT_WEIGHTS)
    try:
        if segments:
            spreads = [s.get("spread") or level_spread(s["probs"].values(), weights) for s in segments]
            return _rounded(pooled_spread(spreads, [s["end_s"] - s["start_s"] for s in segments]))
        if probs:
            return _rounded(level_spread(probs.values(), weights))
    except (ValueError, KeyError, TypeError):
        return None
    return None


def window_spread(probs: Mapping[str, float], weights: Sequence[float]) -> dict[str, float]:
    """One window's ``spread`` entry (rounded as the record's numbers)."""
    return _rounded(level_spread(probs.values(), weights))


def _rounded(spread: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 6) for k, v in spread.items()}
