"""``vqa2 verify``: golden clips and drift (golden.py: the file; compare.py: the numbers).

API (the CLI runs the same functions)::

    vqa2cli.record_golden(["a.mp4", "b.mp4"], "golden.json", model="ugc-scorer")   # → the record's body
    report = vqa2cli.verify_golden("golden.json")            # re-score here; report["passed"]
    report = vqa2cli.compare_precisions(["a.mp4"], ["fp32", "bf16"], model="ugc-scorer")

Each returns the body of a :class:`~vqa2cli.records.verify.VerifyRecord`. A clip that cannot be read is a
row with ``current`` None and ``error`` its one-line reason, counted in ``unreadable`` (the CLI's exit 3).

The golden file's ``reference.model`` is what loads the model again from anywhere: a local checkpoint
folder is stored as its absolute path (``-m tiny`` typed in one folder must still load from another), a card
name or Hub repo id as given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import golden as G
from .compare import compare, differences

__all__ = ["record_golden", "verify_golden", "compare_precisions", "PRECISIONS"]
PRECISIONS = {
    "fp32": ("fp32", "none"),
    "fp16": ("fp16", "none"),
    "bf16": ("bf16", "none"),
    "8bit": (None, "8bit"),
    "4bit": (None, "4bit"),
}  # --precisions name → (dtype, quant)


def _load(reference: dict[str, Any], offline: bool):
    """The scorer ``score`` would load for ``reference`` (windowed past the limits, as ``score``), and the
    hashes of its checkpoint files."""
    from ..api import resolve
    from ..modeling.hub import fetch_weights
    from ..pipeline.run import check_scoring_prompt
    from ..pipeline.segmented import SegmentingScorer

    settings, ref = resolve(
        reference.get("model"),
        "score",
        device=reference.get("device"),
        dtype=reference.get("dtype"),
        quant=reference.get("quant"),
    )
    check_scoring_prompt(settings, "verify a scoring model (a card or checkpoint whose prompt reads a score)")
    scorer = SegmentingScorer.load(settings, ref, offline=offline).configure()
    return scorer, G.weight_hashes(fetch_weights(ref, offline=offline))


def _score(scorer, paths: list[str]) -> list:
    return list(scorer.score_files(paths))


def record_golden(
    clips: list[str],
    path: str,
    *,
    model: str | None = None,
    dtype: str | None = None,
    quant: str | None = None,
    device: str | None = None,
    card: str | None = None,
    offline: bool = False,
) -> dict[str, Any]:
    """Score ``clips`` and write the golden file ``path`` (atomically). Raises InputError (the first clip
    that cannot be read: nothing is written), UsageError, ModelError, OutputError."""
    import os

    from ..errors import InputError

    stored = os.path.abspath(model) if model and os.path.isdir(model) else model  # a folder: from anywhere
    reference = {"model": stored, "dtype": dtype, "quant": quant, "device": device}
    scorer, weights = _load(reference, offline)
    records = _score(scorer, [str(c) for c in clips])
    for r in records:
        if not r.ok:
            raise InputError(r.path, reason(r), "record only clips that can be scored")
    body = G.make(reference, records, weights, card, path)
    G.write(body, path)
    return {
        "mode": "record",
        "golden": str(path),
        "n_clips": len(records),
        "baseline": {"precision": G.precision_name(body["precision"])},
        "runs": [],
        "passed": True,
        "unreadable": 0,
    }


def verify_golden(
    path: str | Path,
    *,
    model: str | None = None,
    dtype: str | None = None,
    quant: str | None = None,
    device: str | None = None,
    tolerance: float | None = None,
    media_root: str | None = None,
    offline: bool = False,
    golden: dict | None = None,
) -> dict[str, Any]:
    """Re-score the clips of golden file ``path`` here (its recorded reference, with any of ``model``,
    ``dtype``, ``quant``, ``device`` replaced) and compare. ``tolerance``: max |Δ| (default
    :func:`~vqa2cli.verify.golden.tolerance`). Raises UsageError for a bad golden file."""
    body = golden or G.load(path)
    reference = dict(body["reference"])
    reference.update(
        {
            k: v
            for k, v in (("model", model), ("dtype", dtype), ("quant", quant), ("device", device))
            if v is not None
        }
    )
    scorer, weights = _load(reference, offline)
    paths = [G.clip_path(c, path, media_root) for c in body["clips"]]
    return verify_with(body, str(path), _score(scorer, paths), weights, paths, tolerance)


def verify_with(
    body: dict[str, Any],
    name: str,
    records: list,
    weights: dict[str, str],
    paths: list[str],
    tolerance: float | None,
) -> dict[str, Any]:
    """Compare the current ``records`` of golden ``body``'s clips (at ``paths``) with the recorded scores;
    ``weights``: the current checkpoint's hashes. The body of a ``VerifyRecord``."""
    first = next((r for r in records if r.ok), None)
    precision = (
        {"dtype": first.model.dtype, "quant": first.model.quant, "device": first.model.device}
        if first
        else body["precision"]
    )
    diffs = differences(
        {
            "precision": body["precision"],
            "environment": body["environment"],
            "weights": body["model"]["weights"],
            "settings": body["settings"] or {},
        },
        {
            "precision": precision,
            "environment": G.environment(),
            "weights": weights,
            "settings": first.config if first else body["settings"] or {},
        },
    )
    diffs += _changed_clips(body["clips"], paths)
    env_differs = any(d.startswith(("environment.", "weights.", "settings.")) for d in diffs)
    tol = tolerance if tolerance is not None else G.tolerance(body["precision"], precision, env_differs)
    run = _run(
        G.precision_name(precision),
        [c["path"] for c in body["clips"]],
        [c["score"] for c in body["clips"]],
        records,
        tol,
        diffs,
    )
    return {
        "mode": "verify",
        "golden": name,
        "n_clips": len(paths),
        "baseline": {"precision": G.precision_name(body["precision"])},
        "runs": [run],
        "passed": run["passed"],
        "unreadable": run["unreadable"],
    }


def compare_precisions(
    clips: list[str],
    precisions: list[str],
    *,
    model: str | None = None,
    device: str | None = None,
    tolerance: float | None = None,
    offline: bool = False,
) -> dict[str, Any]:
    """Score ``clips`` in each of ``precisions`` (names of :data:`PRECISIONS`) and compare each with the
    first. Without ``tolerance`` every run passes (a report to decide on: each run's ``tolerance`` is None).
    UsageError for an unknown name."""
    from ..errors import UsageError

    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown or len(precisions) < 2:
        raise UsageError(
            f"--precisions needs two or more of {', '.join(PRECISIONS)}, got {','.join(precisions)}"
        )
    results = []
    for name in precisions:
        dtype, quant = PRECISIONS[name]
        scorer, _ = _load({"model": model, "dtype": dtype, "quant": quant, "device": device}, offline)
        results.append(_score(scorer, [str(c) for c in clips]))
        del scorer
    base = results[0]
    names = [r.path for r in base]
    runs = [
        _run(
            name,
            names,
            [r.score if r.ok else None for r in base],
            recs,
            tolerance,
            [],
        )
        for name, recs in zip(precisions[1:], results[1:])
    ]
    unreadable = sum(not r.ok for r in base)
    return {
        "mode": "precisions",
        "golden": None,
        "n_clips": len(names),
        "baseline": {"precision": precisions[0]},
        "runs": runs,
        "passed": all(r["passed"] for r in runs),
        "unreadable": unreadable,
    }


def reason(record) -> str:
    """Why a score record is an error, in one line without the file name its message starts with."""
    text = record.error or "cannot be read"
    prefix = f"{record.path}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _run(
    precision: str, names: list[str], recorded: list, records: list, tol: float | None, diffs: list[str]
) -> dict:
    """One compared run: clips both runs scored go into the numbers; unreadable ones are rows with None and
    their ``error``. ``tol`` None: no gate (the run passes)."""
    ok = [i for i, r in enumerate(records) if r.ok and recorded[i] is not None]
    result = compare(
        [names[i] for i in ok], [recorded[i] for i in ok], [round(records[i].score, 6) for i in ok]
    )
    rows = {row["path"]: row for row in result["clips"]}
    result["clips"] = [
        rows.get(n)
        or {
            "path": n,
            "recorded": recorded[i],
            "current": None,
            "delta": None,
            "error": reason(records[i]) if not records[i].ok else "not scored in the baseline run",
        }
        for i, n in enumerate(names)
    ]
    unreadable = len(names) - len(ok)
    return {
        "precision": precision,
        "tolerance": tol,
        "passed": tol is None or result["max_abs_delta"] <= tol,
        "differences": diffs,
        **result,
        "unreadable": unreadable,
    }


def _changed_clips(entries: list[dict], paths: list[str]) -> list[str]:
    import os

    out = []
    for entry, path in zip(entries, paths):
        if os.path.isfile(path) and G.sha256_file(path) != entry["sha256"]:
            out.append(
                f"clip {entry['path']}: the file changed (sha256 {entry['sha256'][:12]}… → "
                f"{G.sha256_file(path)[:12]}…)"
            )
    return out
