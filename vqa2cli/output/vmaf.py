"""A score record → libvmaf's JSON log layout (``--format vmaf-json``), so dashboards, notebooks and CI
reports written for VMAF logs read vqa2 unchanged. docs/vmaf-json.md documents the mapping.

The layout is libvmaf's ``vmaf_write_output_json`` (libvmaf/src/output.c, Netflix/vmaf), key for key::

    {"version": str, "fps": float | null,
     "frames": [{"frameNum": int, "metrics": {"<metric>": float | null}}, ...],
     "pooled_metrics": {"<metric>": {"min": float, "max": float, "mean": float, "harmonic_mean": float}},
     "aggregate_metrics": {"<metric>": float}}

Mapping (one metric, ``vqa2``, on the paper's 0–1 scale, as the record's ``score``):

* a clip scored in windows: one ``frames`` entry per window, ``frameNum`` = the window's first frame
  (``segments[i].start_frame``, an index into the decoded frames), the window's score;
* a clip scored in one forward: one entry per key frame the model saw (``sampling.keyframe_indices``), each
  with the clip's one score (the model gives one score for all of them);
* ``pooled_metrics.vqa2``: ``min``/``max``/``mean``/``harmonic_mean`` of those entries (for windows the record's
  ``pooled`` statistics, pipeline/pooling.py: ``harmonic_mean`` is VMAF's ``1/mean(1/(x+1)) - 1`` taken on the
  0–100 scale and divided by 100); for one forward all four are the score;
* ``aggregate_metrics.vqa2``: the record's ``score`` (the ``--pool`` choice: duration-weighted mean by default);
* ``fps``: as libvmaf, pictures processed per second of work: the clip's frames / (``decode_s`` + ``infer_s``),
  ``null`` when not timed;
* ``version``: ``"vqa2 <version>"``;
* a ``vqa2`` object beside them names the input (``path``, ``path_bytes``, ``status``, ``score``, ``level``,
  ``error``, ``input.size_bytes``/``mtime``: what ``batch --resume`` matches). libvmaf readers ignore it.

An error record has empty ``frames``/``pooled_metrics``/``aggregate_metrics`` and its error in ``vqa2``.
"""

from __future__ import annotations

from typing import Any

METRIC = "vqa2"  # the metric key in frames[].metrics, pooled_metrics and aggregate_metrics
POOL_METHODS = ("min", "max", "mean", "harmonic_mean")  # libvmaf's pool_method_name, in its order
INPUT_KEYS = ("size_bytes", "mtime", "avg_fps", "duration_s", "n_frames")


def vmaf_document(record: dict[str, Any]) -> dict[str, Any]:
    """libvmaf's JSON log for one score record's ``to_dict()`` (a local or a ``--server`` record alike).
    Scores on the 0–1 scale, ``frameNum`` an index into the decoded frames; raises nothing for a record of
    the ``vqa2.score/1`` schema (an error record gives empty frames)."""
    from .. import __version__

    frames = _frames(record) if record.get("status") == "ok" and record.get("score") is not None else []
    pooled: dict[str, Any] = {}
    aggregate: dict[str, Any] = {}
    if frames:
        stats = record.get("pooled") or {}
        score = record["score"]
        pooled = {METRIC: {m: stats.get(m, score) if record.get("segments") else score for m in POOL_METHODS}}
        aggregate = {METRIC: score}
    inp = record.get("input") or {}
    return {
        "version": f"vqa2 {__version__}",
        "fps": _fps(inp, record.get("timing") or {}),
        "frames": frames,
        "pooled_metrics": pooled,
        "aggregate_metrics": aggregate,
        "vqa2": {
            "schema": record.get("schema"),
            "path": record.get("path"),
            "path_bytes": record.get("path_bytes"),
            "status": record.get("status"),
            "score": record.get("score"),
            "level": record.get("level"),
            "error": record.get("error"),
            "input": {k: inp[k] for k in INPUT_KEYS if k in inp},
            "model": (record.get("model") or {}).get("name"),
        },
    }


def _frames(record: dict[str, Any]) -> list[dict[str, Any]]:
    segments = record.get("segments")
    if segments:
        return [{"frameNum": int(s["start_frame"]), "metrics": {METRIC: s["score"]}} for s in segments]
    indices = (record.get("sampling") or {}).get("keyframe_indices") or [0]
    return [{"frameNum": int(i), "metrics": {METRIC: record["score"]}} for i in indices]


def _fps(inp: dict[str, Any], timing: dict[str, Any]) -> float | None:
    frames = inp.get("decoded_frames") or inp.get("n_frames")
    seconds = (timing.get("decode_s") or 0.0) + (timing.get("infer_s") or 0.0)
    return round(frames / seconds, 2) if frames and seconds > 0 else None
