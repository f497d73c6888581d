"""Pool per-window scores into one number per clip, with the names and definitions VMAF and
ffmpeg-quality-metrics (FQM) use for per-frame scores. Pure math on the paper's 0-1 scale.

============== ==========================================================================================
key            definition (``s_i`` window scores, ``d_i`` window durations in seconds, ``n`` windows)
============== ==========================================================================================
mean           ``Σ s_i / n`` (VMAF ``mean``, FQM ``average``)
weighted_mean  ``Σ d_i s_i / Σ d_i``: the duration-weighted mean, i.e. the mean score per second of video.
               The default meaning of ``score``: windows are equal except the last one, which may be up to
               one window shorter (or one key-frame step longer, when a short tail is merged), and a 3 s
               tail should not count as much as a 10 s window. For equal windows it equals ``mean``.
min, max       the lowest / highest window (VMAF ``min``)
harmonic_mean  VMAF's definition (``vmaf.tools.stats.ListStats.harmonic_mean`` and libvmaf's pooling):
               ``1 / mean(1 / (x_i + 1)) - 1`` on its 0-100 scale, the ``+ 1`` keeping a zero score finite.
               Applied here on the same 0-100 scale, ``x_i = 100 s_i``, and divided by 100 again, so that
               the offset weighs exactly as much as in VMAF (on the 0-1 scale ``+ 1`` would flatten it).
p5             5th percentile, linear interpolation between closest ranks (``numpy.percentile(s, 5)``, as
               VMAF's ``perc5``)
stdev          population standard deviation ``sqrt(Σ (s_i - mean)² / n)`` (``numpy.std``, as FQM)
============== ==========================================================================================
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config import CHOICES

POOL_METHODS = CHOICES[("scoring", "pool")]  # what `score` may mean for a clip scored in windows
STATISTICS = ("mean", "weighted_mean", "min", "max", "harmonic_mean", "p5", "stdev")
VMAF_SCALE = 100.0


def pool_scores(scores: Sequence[float], durations: Sequence[float]) -> dict[str, float]:
    """All :data:`STATISTICS` of window ``scores`` (0-1) with their ``durations`` (seconds, > 0 in sum).

    Raises ``ValueError`` for no scores, mismatched lengths or a non-positive total duration.
    """
    import numpy as np

    if not len(scores):
        raise ValueError("no window scores to pool")
    if len(scores) != len(durations):
        raise ValueError(f"{len(scores)} scores but {len(durations)} durations")
    s = np.asarray(scores, dtype=np.float64)
    d = np.asarray(durations, dtype=np.float64)
    if not d.sum() > 0:
        raise ValueError("window durations must add up to more than 0 s")
    x = s * VMAF_SCALE
    harmonic = (1.0 / np.mean(1.0 / (x + 1.0)) - 1.0) / VMAF_SCALE
    return {
        "mean": float(s.mean()),
        "weighted_mean": float((s * d).sum() / d.sum()),
        "min": float(s.min()),
        "max": float(s.max()),
        "harmonic_mean": float(harmonic),
        "p5": float(np.percentile(s, 5)),
        "stdev": float(s.std()),
    }


def pooled_probs(probs: Sequence[dict[str, float]], durations: Sequence[float]) -> dict[str, float]:
    """Duration-weighted mean of the windows' level probabilities (still a distribution)."""
    total = float(sum(durations))
    keys = list(probs[0])
    return {k: sum(p[k] * d for p, d in zip(probs, durations)) / total for k in keys}
