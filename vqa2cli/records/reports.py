"""The records of the commands that print one report or a list of facts (not one result per file scored).

Each record declares ``kind`` (the name ``output.render.make_writer`` takes), ``many`` (JSON is a list of
such records, or one object) and ``columns`` where it is tabular (CSV, the table). The JSON keys are
stable; docs/output.md lists them per command (tests/test_command_records.py checks both agree). ``to_dict()`` is the JSON object; ``to_row()`` the flat
row. Text goes through :func:`~vqa2cli.records.cells.clean`, so every JSON output is valid UTF-8 whatever
the file names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .cells import clean

PROBE_KEYS = (
    "path",
    "path_bytes",
    "status",
    "error_code",
    "error",
    "container",
    "codec",
    "width",
    "height",
    "coded_width",
    "coded_height",
    "rotation",
    "avg_fps",
    "vfr",
    "duration_s",
    "n_frames",
    "pix_fmt",
    "bit_depth",
    "interlaced",
    "has_audio",
    "resolution_changes",
    "discarded_frames",
    "keyframes",
    "motion_frames",
    "keyframe_step",
    "motion_stride",
    "policy",
    "warnings",
    "transform",
    "stream_index",
)  # appended last: existing column positions never move

EVAL_COLUMNS = (
    "index",
    "path",
    "mos",
    "score",
    "official_score",
    "level",
    "status",
    "error",
    "size_bytes",
    "mtime",
    "decoded_frames",
)  # appended last; files without it are still resumed


@dataclass
class ProbeRecord:
    """``vqa2 probe``: one file's facts (cli/probe.py's docstring documents each key); ``fields`` holds
    :data:`PROBE_KEYS`, ``None`` where unknown."""

    kind: ClassVar[str] = "probe"
    many: ClassVar[bool] = True
    columns: ClassVar[tuple[str, ...]] = PROBE_KEYS
    fields: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.fields.get("status") == "ok"

    def to_dict(self) -> dict[str, Any]:
        return clean({k: self.fields.get(k) for k in PROBE_KEYS})

    def to_row(self) -> dict[str, Any]:
        return self.to_dict()


@dataclass
class ModelCardRecord:
    """``vqa2 models list``: one model card and whether its weights are in the Hugging Face cache."""

    kind: ClassVar[str] = "models"
    many: ClassVar[bool] = True
    keys: ClassVar[tuple[str, ...]] = (
        "name",
        "task",
        "repo",
        "revision",
        "cached",
        "path",
        "description",
        "size_bytes",
        "parameters",
    )
    columns: ClassVar[tuple[str, ...]] = ("name", "task", "repo", "revision", "size", "cached")  # the table's
    name: str
    task: str
    repo: str
    revision: str
    cached: bool
    path: str | None
    description: str
    size_bytes: int | None = None  # the published checkpoint's bytes, declared by the card ([checkpoint])
    parameters: int | None = None  # its parameter count, declared by the card

    def to_dict(self) -> dict[str, Any]:
        return clean({k: getattr(self, k) for k in self.keys})

    def to_row(self) -> dict[str, Any]:
        """:meth:`to_dict` plus ``size``: the download size for people (``16.2 GB``, ``?`` when undeclared)."""
        size = "?" if self.size_bytes is None else f"{self.size_bytes / 1e9:.1f} GB"
        return {**self.to_dict(), "size": size}


@dataclass
class EvalRow:
    """``vqa2 eval --scores-csv``: one labelled video's row, :data:`EVAL_COLUMNS`. Rows are job data:
    ``--resume`` reads them back (jobs/resume.py), so :meth:`to_row` keeps the path exactly as given (the
    file is written with ``surrogateescape``). ``input`` holds ``decoded_frames`` and, stamped by the job loop
    from the stat taken before decoding, ``size_bytes`` / ``mtime`` (the resume key)."""

    kind: ClassVar[str] = "eval_row"
    many: ClassVar[bool] = True
    columns: ClassVar[tuple[str, ...]] = EVAL_COLUMNS
    index: int  # the label's position in the label file
    path: str
    mos: float
    status: str = "ok"
    score: float | None = None  # paper scale, 0-1
    official_score: Any = ""
    level: str = ""
    error: str = ""
    input: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, label: Any, **fields: Any) -> EvalRow:
        """The row of ``label`` (``index``, ``path``, ``mos``: a ``training.datasets.LabelRecord``)."""
        return cls(label.index, str(label.path), label.mos, **fields)

    @classmethod
    def failed(cls, label: Any, exc: Any) -> EvalRow:
        """The ``error`` row of an unreadable video (``exc``: an ``InputError``; a ``damaged_input`` one
        carries ``input.decoded_frames``)."""
        decoded = (getattr(exc, "input", None) or {}).get("decoded_frames", "")
        return cls.of(label, status="error", error=exc.one_line(), input={"decoded_frames": decoded})

    def to_row(self) -> dict[str, Any]:
        ok = self.status == "ok"
        row = {
            "index": self.index,
            "path": self.path,
            "mos": self.mos,
            "score": self.score if ok else "",
            "official_score": self.official_score if ok else "",
            "level": self.level if ok else "",
            "status": self.status,
            "error": self.error,
            **self.input,
        }
        return {c: row.get(c, "") for c in EVAL_COLUMNS}  # no stat: empty cells

    def to_dict(self) -> dict[str, Any]:
        return clean(self.to_row())


@dataclass
class EvalRecord:
    """``vqa2 eval``: the metrics summary. ``metrics`` is a ``training.metrics.Correlations`` (anything with
    ``to_dict()`` giving srcc, plcc, plcc_logistic, krcc, n, notes), ``None`` before any were computed."""

    kind: ClassVar[str] = "eval"
    many: ClassVar[bool] = False
    labels: str
    model: str
    metrics: Any
    n_labels: int
    n_failed: int
    n_reused: int
    failures: list[str] = field(default_factory=list)
    calibrated: dict[str, Any] | None = None  # --calibration: scale, plcc, srcc, krcc, rmse, n_extrapolated

    def to_dict(self) -> dict[str, Any]:
        metrics = self.metrics.to_dict() if self.metrics else {}
        return clean(
            {
                "labels": self.labels,
                "model": self.model,
                **metrics,
                "n_labels": self.n_labels,
                "n_failed": self.n_failed,
                "n_reused": self.n_reused,
                "failures": self.failures,
                "calibrated": self.calibrated,
            }
        )


@dataclass
class DataCheckRecord:
    """``vqa2 train --validate-data``: counts, and every problem found (not just the first)."""

    kind: ClassVar[str] = "data_check"
    many: ClassVar[bool] = False
    source: str
    records: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)  # level word (CSV) or first answer words
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return clean(
            {
                "data": self.source,
                "records": self.records,
                "kinds": self.kinds,
                "answers": self.answers,
                "problems": self.problems,
                "ok": not self.problems,
            }
        )


@dataclass
class DoctorRecord:
    """``vqa2 doctor``: the installation report (schema ``vqa2.doctor/1``, docs/commands.md "vqa2 doctor"), built by
    cli/doctor.py's ``build_report``."""

    kind: ClassVar[str] = "doctor"
    many: ClassVar[bool] = False
    report: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return clean(dict(self.report))


@dataclass
class BatchSummaryRecord:
    """``vqa2 batch --summary``: the run's counts, one JSON line on stdout (the rows go to the output files)."""

    kind: ClassVar[str] = "batch"
    many: ClassVar[bool] = True  # one JSON Lines record per run
    keys: ClassVar[tuple[str, ...]] = (
        "ok",
        "failed",
        "skipped_not_video",
        "skipped_done",
        "done_with_errors",
        "below_fail_under",
        "wall_s",
        "files_per_s",
        "interrupted",
        "outputs",
    )
    ok: int
    failed: int
    skipped_not_video: int
    skipped_done: int
    done_with_errors: int
    below_fail_under: int
    wall_s: float  # seconds, 3 decimals
    files_per_s: float  # 4 decimals
    interrupted: bool
    outputs: list[str]  # --csv, --jsonl, then --segments-csv and --plot-dir when given

    def to_dict(self) -> dict[str, Any]:
        return clean({k: getattr(self, k) for k in self.keys})
