"""The per-file records: one per input file (score) or per question (ask). (The reports of the other
commands: ``records/reports.py``.)

JSON/JSONL print ``record.to_dict()`` (schema ``vqa2.score/1`` or ``vqa2.answer/1``); CSV prints
``record.to_row()`` under the fixed ``SCORE_COLUMNS``. docs/output.md documents every field;
``tests/test_output.py`` checks the docs and the code agree. New fields may be added in a minor version;
existing ones never change meaning or type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .. import __version__
from .cells import clean, path_bytes, path_from_fields
from .precision import round_times
from .spread import record_spread

SCORE_SCHEMA = "vqa2.score/1"
ANSWER_SCHEMA = "vqa2.answer/1"

SCORE_COLUMNS = (
    "path",
    "status",
    "score",
    "official_score",
    "level",
    "p_high",
    "p_good",
    "p_fair",
    "p_poor",
    "p_low",
    "duration_s",
    "avg_fps",
    "width",
    "height",
    "keyframes",
    "motion_frames",
    "sampling_policy",
    "model",
    "revision",
    "dtype",
    "quant",
    "decode_s",
    "infer_s",
    "size_bytes",
    "mtime",
    "error_code",
    "error",
    "path_bytes",
    "decoded_frames",  # appended last: existing column positions never move
    "score_std",
    "score_entropy",  # the spread (records/spread.py)
    "calibrated",
    "calibrated_scale",
    "extrapolated",  # --calibration (vqa2cli/calibration/)
    "n_frames",
    "warnings",  # frames a player shows; the record's warnings joined by " | " (docs/real-files.md)
    "explanation",  # score --explain: the worst explained window's (or the clip's) text (docs/explain.md)
    "variant",
    "bandwidth",
    "etag",
    "last_modified",  # an HLS/DASH variant read, a URL's identity: the record's origin (docs/inputs.md)
)
ANSWER_COLUMNS = (
    "path",
    "question",
    "answer",
    "status",
    "model",
    "infer_s",
    "error_code",
    "error",
    "path_bytes",
    "segment_index",
    "start_s",
    "end_s",
)


def official_scale(score: float) -> float:
    """The official scripts' number (weights 1..0.2, range [0.2, 1]) = 0.2 + 0.8 × the paper's score."""
    return 0.2 + 0.8 * score


@dataclass
class ModelInfo:
    name: str
    repo: str
    revision: str
    dtype: str
    quant: str
    device: str
    estimated_memory_gb: float | None = None  # memory preflight (modeling/memory.py): weights + activations
    quant_cache: str | None = (
        None  # 8/4-bit: hit | written | failed | off (modeling/quant_cache.py); else None
    )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(kw_only=True)
class _Result:
    """What every record carries besides its own result fields."""

    many: ClassVar[bool] = True  # one record per file or question: JSON prints a list of them

    status: str = "ok"
    model: ModelInfo | None = None
    sampling: dict[str, Any] = field(default_factory=dict)  # keyframes, motion_frames, indices, policy, notes
    timing: dict[str, float] = field(default_factory=dict)  # decode_s, infer_s
    warnings: list[str] = field(default_factory=list)
    error_code: str | None = None
    error: str | None = None
    config: dict[str, Any] | None = None  # the resolved Settings.to_dict()
    origin: dict[str, Any] | None = None  # not a local file: given, kind, variant... (inputs/materialize.py)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def _common(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict() if self.model else None,
            "sampling": round_times(self.sampling),
            "timing": {k: _round(v, 4) for k, v in self.timing.items()},
        }

    def _tail(self) -> dict[str, Any]:
        return {
            "warnings": list(self.warnings),
            "error": {"code": self.error_code, "message": self.error} if self.error else None,
            "tool": {"name": "vqa2", "version": __version__},
            "config": self.config,
            "origin": self.origin,
        }


@dataclass
class ScoreRecord(_Result):
    """One file's result. ``status`` is ``ok`` or ``error``; on error the score fields are ``None``."""

    kind: ClassVar[str] = "score"
    columns: ClassVar[tuple[str, ...]] = SCORE_COLUMNS
    path: str
    score: float | None = None  # paper scale: softmax(levels) · weights, in [0, 1]
    probs: dict[str, float] | None = None  # level word (stripped) → probability, card order
    level: str | None = None  # most likely level word
    input: dict[str, Any] = field(default_factory=dict)  # duration_s, avg_fps, vfr, width, height, ...
    peak_gpu_mem_gb: float | None = None
    segments: list[dict[str, Any]] | None = None  # per window (pipeline/segmented.py); None = one forward
    pooled: dict[str, float] | None = None  # pooling statistics of the window scores (pipeline/pooling.py)
    worst: dict[str, Any] | None = None  # the lowest window: index, start_s, end_s, score, level
    calibrated: dict[str, Any] | None = (
        None  # --calibration: value, scale, extrapolated (vqa2cli/calibration/)
    )
    explanation: dict[str, Any] | None = (
        None  # --explain of a clip scored in one forward (pipeline/explain.py)
    )

    def to_dict(self) -> dict[str, Any]:
        common = self._common()
        return clean(
            {
                "schema": SCORE_SCHEMA,
                "path": self.path,
                "path_bytes": path_bytes(
                    self.path
                ),  # hex of a file name that is not valid UTF-8 (records/cells.py)
                "status": self.status,
                "score": _round(self.score),
                "official_score": _round(official_scale(self.score)) if self.score is not None else None,
                "level": self.level,
                "probs": {k: _round(v) for k, v in self.probs.items()} if self.probs else None,
                "spread": record_spread(self.probs, self.segments, self.config)
                if self.score is not None
                else None,
                "calibrated": self.calibrated,
                "model": common["model"],
                "input": round_times(self.input),
                "sampling": common["sampling"],
                "timing": common["timing"],
                "peak_gpu_mem_gb": _round(self.peak_gpu_mem_gb, 3),
                "segments": round_times(self.segments),
                "pooled": {k: _round(v) for k, v in self.pooled.items()} if self.pooled else None,
                "worst": round_times(self.worst),
                "explanation": self.explanation,
                **self._tail(),
            }
        )

    def shown_explanation(self) -> dict[str, Any] | None:
        """The explanation a one-line view shows: the clip's, else the lowest explained window's, else None."""
        if self.explanation:
            return self.explanation
        explained = [s for s in self.segments or () if s.get("explanation")]
        return min(explained, key=lambda s: s["score"])["explanation"] if explained else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoreRecord:
        """The record of a ``vqa2.score/1`` object (a JSONL line read back, ``vqa2 report``): ``path`` is the
        real file name (``path_bytes`` undone, records/cells.py). Raises KeyError/TypeError/AttributeError
        for an object that is not such a record; keys added by later versions are ignored."""
        for key, kinds in _SCORE_SHAPE.items():
            if data.get(key) is not None and not isinstance(data[key], kinds):
                raise TypeError(f"field {key!r} is a {type(data[key]).__name__}")
        if not all(isinstance(w, dict) for w in data.get("segments") or ()):
            raise TypeError("field 'segments' holds a value that is not an object")
        error = data.get("error") or {}
        model = data.get("model")
        known = set(ModelInfo.__dataclass_fields__)
        return cls(
            path=path_from_fields(data["path"], data.get("path_bytes")),
            status=data.get("status", "ok"),
            score=data.get("score"),
            probs=data.get("probs"),
            level=data.get("level"),
            input=data.get("input") or {},
            peak_gpu_mem_gb=data.get("peak_gpu_mem_gb"),
            segments=data.get("segments"),
            pooled=data.get("pooled"),
            worst=data.get("worst"),
            model=ModelInfo(**{k: v for k, v in model.items() if k in known}) if model else None,
            sampling=data.get("sampling") or {},
            timing=data.get("timing") or {},
            warnings=list(data.get("warnings") or []),
            error_code=error.get("code"),
            error=error.get("message"),
            config=data.get("config"),
            calibrated=data.get("calibrated"),
            explanation=data.get("explanation"),
            origin=data.get("origin"),
        )

    def to_row(self) -> dict[str, Any]:
        """Flat CSV row, keys = SCORE_COLUMNS; missing values are empty strings."""
        d = self.to_dict()
        probs = self.probs or {}
        names = list(probs)
        row = {
            "path": self.path,
            "status": self.status,
            "score": d["score"],
            "official_score": d["official_score"],
            "level": self.level,
            "duration_s": d["input"].get("duration_s"),
            "avg_fps": d["input"].get("avg_fps"),
            "width": self.input.get("width"),
            "height": self.input.get("height"),
            "keyframes": self.sampling.get("keyframes"),
            "motion_frames": self.sampling.get("motion_frames"),
            "sampling_policy": self.sampling.get("policy"),
            "model": self.model.name if self.model else None,
            "revision": self.model.revision if self.model else None,
            "dtype": self.model.dtype if self.model else None,
            "quant": self.model.quant if self.model else None,
            "decode_s": d["timing"].get("decode_s"),
            "infer_s": d["timing"].get("infer_s"),
            "size_bytes": self.input.get("size_bytes"),
            "mtime": self.input.get("mtime"),
            "error_code": self.error_code,
            "error": self.error,
            "path_bytes": path_bytes(self.path),
            "decoded_frames": self.input.get("decoded_frames"),
            **_extra_cells(d),
            "n_frames": self.input.get("n_frames"),
            "warnings": " | ".join(self.warnings) or None,
            "explanation": (self.shown_explanation() or {}).get("text"),
            **_origin_cells(self.origin),
        }
        # p_<level> columns follow the card's level order; the default card's words fill SCORE_COLUMNS.
        for i, column in enumerate(("p_high", "p_good", "p_fair", "p_poor", "p_low")):
            row[column] = _round(probs[names[i]]) if i < len(names) else None
        return clean({k: ("" if row.get(k) is None else row[k]) for k in SCORE_COLUMNS})


@dataclass
class AnswerRecord(_Result):
    """One question's answer about one file (``ask``); on error ``answer`` is ``None``."""

    kind: ClassVar[str] = "answer"
    columns: ClassVar[tuple[str, ...]] = ANSWER_COLUMNS
    path: str
    question: str
    answer: str | None = None
    generation: dict[str, Any] = field(default_factory=dict)  # max_new_tokens, do_sample, new_tokens, ...
    segment: dict[str, Any] | None = None  # ask --segments: index, start_s, end_s of the window asked about

    def to_dict(self) -> dict[str, Any]:
        return clean(
            {
                "schema": ANSWER_SCHEMA,
                "path": self.path,
                "path_bytes": path_bytes(self.path),
                "question": self.question,
                "answer": self.answer,
                "status": self.status,
                **self._common(),
                "generation": self.generation,
                "segment": round_times(self.segment),
                **self._tail(),
            }
        )

    def to_row(self) -> dict[str, Any]:
        d = self.to_dict()
        return clean(
            {
                "path": self.path,
                "question": self.question,
                "answer": self.answer or "",
                "status": self.status,
                "model": self.model.name if self.model else "",
                "infer_s": d["timing"].get("infer_s", ""),
                "error_code": self.error_code or "",
                "error": self.error or "",
                "path_bytes": path_bytes(self.path) or "",
                **{
                    f"segment_{k}" if k == "index" else k: ("" if self.segment is None else self.segment[k])
                    for k in ("index", "start_s", "end_s")
                },
            }
        )


def _origin_cells(origin: dict[str, Any] | None) -> dict[str, Any]:
    """The appended CSV cells of a record's ``origin``: the manifest variant read and a URL's identity."""
    origin = origin or {}
    ident = origin.get("identity") or {}
    return {
        "variant": origin.get("variant"),
        "bandwidth": origin.get("bandwidth"),
        "etag": ident.get("etag"),
        "last_modified": ident.get("last_modified"),
    }


def _extra_cells(d: dict[str, Any]) -> dict[str, Any]:
    """The appended CSV cells of a record's JSON ``d``: spread and calibration."""
    spread, cal = d.get("spread") or {}, d.get("calibrated") or {}
    return {
        "score_std": spread.get("std"),
        "score_entropy": spread.get("entropy"),
        "calibrated": cal.get("value"),
        "calibrated_scale": cal.get("scale"),
        "extrapolated": None if not cal else str(bool(cal.get("extrapolated"))).lower(),
    }


# The JSON types of the fields ScoreRecord.from_dict reads (null allowed for each).
_SCORE_SHAPE: dict[str, type | tuple[type, ...]] = {
    "path": str,
    "path_bytes": str,
    "status": str,
    "score": (int, float),
    "level": str,
    "probs": dict,
    "input": dict,
    "segments": list,
    "pooled": dict,
    "worst": dict,
    "model": dict,
    "sampling": dict,
    "timing": dict,
    "warnings": list,
    "error": dict,
    "origin": dict,
}


def error_score_record(path: str, code: str, message: str, **extra: Any) -> ScoreRecord:
    return ScoreRecord(path=str(path), status="error", error_code=code, error=message, **extra)


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits)
