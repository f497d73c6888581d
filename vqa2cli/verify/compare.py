"""Compare two runs of the same clips: per clip Δ, max/mean |Δ|, rank agreement, flipped pairs, and what
differs between the runs' environments (pure, numbers on the 0–1 scale)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def flipped_pairs(names: Sequence[str], before: Sequence[float], after: Sequence[float]) -> list[list[str]]:
    """``[a, b]`` pairs ranked ``a`` above ``b`` before and strictly below after (ties before are skipped)."""
    out = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            d0, d1 = before[i] - before[j], after[i] - after[j]
            if d0 != 0 and d0 * d1 < 0:
                out.append([names[i], names[j]] if d0 > 0 else [names[j], names[i]])
    return out


def srcc(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation rounded to 6 decimals (as every number of a verify record: 1 - 1e-16 is
    1.0), None when undefined (fewer than 2 clips or constant scores)."""
    if len(a) < 2 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    from scipy import stats

    return round(float(stats.spearmanr(a, b).statistic), 6)


def compare(names: Sequence[str], recorded: Sequence[float], current: Sequence[float]) -> dict[str, Any]:
    """``clips`` (``path``, ``recorded``, ``current``, ``delta`` = current − recorded), ``max_abs_delta``,
    ``mean_abs_delta``, ``srcc``, ``flipped_pairs``."""
    deltas = [c - r for r, c in zip(recorded, current)]
    return {
        "clips": [
            {"path": n, "recorded": round(r, 6), "current": round(c, 6), "delta": round(d, 6)}
            for n, r, c, d in zip(names, recorded, current, deltas)
        ],
        "max_abs_delta": round(max(abs(d) for d in deltas), 6) if deltas else 0.0,
        "mean_abs_delta": round(sum(abs(d) for d in deltas) / len(deltas), 6) if deltas else 0.0,
        "srcc": srcc(recorded, current),
        "flipped_pairs": flipped_pairs(names, recorded, current),
    }


def differences(recorded: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
    """``key: old → new`` for every leaf that differs between two nested dicts (settings, versions, hashes)."""
    out = []
    for key in sorted(set(recorded) | set(current), key=str):
        a, b = recorded.get(key), current.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{name}.")
        elif a != b:
            out.append(f"{name}: {_short(a)} → {_short(b)}")
    return out


def _short(value: Any) -> str:
    text = str(value)
    return text[:12] + "…" if len(text) > 16 and all(c in "0123456789abcdef" for c in text) else text
