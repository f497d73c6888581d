"""The calibration file (``vqa2.calibration/1``, JSON): a fitted map with everything needed to refuse misuse.

Keys: ``schema``, ``tool`` (``{"name": "vqa2", "version"}``), ``created`` (UTC ISO 8601), ``kind`` and
``params`` (calibration/fit.py), ``score_range`` (``[min, max]`` of the scores the fit saw, 0–1 scale),
``scale`` (``{"name", "min", "max"}``: the team's label scale, min/max of the labels seen), ``model``
(``{"name", "repo", "revision"}``), ``settings`` (the resolved settings the scores were made with, less
``runtime.device``/``quant_cache``: :data:`IGNORED`), ``metrics`` (the CV report, calibration/select.py),
``n`` (labelled pairs), ``precision`` (``{"dtype", "quant"}`` loaded, or None when unknown), ``checksum`` (SHA-256 of the canonical JSON of every other key: a hand-edited or
corrupt file is refused). Written atomically (temporary file + ``os.replace``).

A calibration applies only to scores made with the same settings: :meth:`Calibration.check_settings`
names the keys that differ (UsageError, exit 2), it is never silently applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .. import __version__
from ..errors import UsageError
from ..records.documents import check_document, read_json, sealed, write_json
from .fit import KINDS, Fit

SCHEMA = "vqa2.calibration/1"
SCHEMA_VERSION = 1
REMAKE = "make it again with vqa2 calibrate"
# keys that may differ without changing the scores' meaning: the device and where quantized weights live
IGNORED = {
    ("runtime", "device"),
    ("runtime", "quant_cache"),
    ("model", "description"),
    ("generation", "max_new_tokens"),
    ("generation", "do_sample"),
    ("generation", "temperature"),
    ("generation", "top_p"),
    ("generation", "repetition_penalty"),
    ("video", "decode_threads"),
}


def settings_key(config: dict[str, Any]) -> dict[str, Any]:
    """The settings a calibration is bound to: ``config`` (Settings.to_dict()) less :data:`IGNORED` and the
    ``run`` section a job's settings record adds (jobs/provenance.py: batch's window, eval's stalling style),
    which a score record's ``config`` does not carry."""
    return {
        s: {k: v for k, v in values.items() if (s, k) not in IGNORED}
        for s, values in config.items()
        if isinstance(values, dict) and s != "run"
    }


@dataclass(frozen=True)
class Calibration:
    """A loaded calibration: ``apply(score)`` → ``{"value", "scale", "extrapolated"}``."""

    kind: str
    params: Any
    score_range: tuple[float, float]
    scale: dict[str, Any]
    model: dict[str, Any]
    settings: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    n: int = 0
    created: str = ""
    source: str = ""  # the file it was read from (messages)
    precision: dict[str, Any] | None = None  # {"dtype", "quant"} as loaded (records' model), when known

    @property
    def fit(self) -> Fit:
        return Fit(self.kind, self.params)

    def apply(self, score: float) -> dict[str, Any]:
        """One score (0–1) on the team's scale; ``extrapolated`` when outside :attr:`score_range`."""
        lo, hi = self.score_range
        value = float(self.fit([float(score)])[0])
        return {"value": round(value, 6), "scale": self.scale["name"], "extrapolated": not lo <= score <= hi}

    def check_settings(self, config: dict[str, Any] | None) -> None:
        """UsageError naming the keys when ``config`` (a record's or run's resolved settings) differs."""
        if not config:
            raise UsageError(
                f"{self.source}: the scores carry no settings record to check the calibration against",
                "score with vqa2 (records and row files carry their settings)",
            )
        if changed := differences(self.settings, config):
            raise UsageError(
                f"{self.source}: calibrated for other settings than these scores ({', '.join(changed)})",
                f"score with the model and flags the calibration was made with "
                f"({self.model.get('name')}), or calibrate again",
            )

    def to_json(self) -> dict[str, Any]:
        body = {
            "schema": SCHEMA,
            "tool": {"name": "vqa2", "version": __version__},
            "created": self.created,
            "kind": self.kind,
            "params": self.params,
            "score_range": list(self.score_range),
            "scale": self.scale,
            "model": self.model,
            "settings": self.settings,
            "metrics": self.metrics,
            "n": self.n,
            "precision": self.precision,
        }
        return sealed(body)

    def check_precision(self, model: Any) -> None:
        """UsageError when the loaded precision of a record's ``model`` (ModelInfo or its dict) differs from
        the one the calibration's scores were made with (``--dtype auto`` resolves per machine)."""
        if not self.precision or model is None:
            return
        got = model if isinstance(model, dict) else model.__dict__
        theirs = {k: got.get(k) for k in self.precision}
        if theirs != self.precision:
            raise UsageError(
                f"{self.source}: calibrated on scores made at {_precision(self.precision)}, these are "
                f"{_precision(theirs)}",
                "pass --dtype/--quant to match, or calibrate again",
            )


def _precision(p: dict[str, Any]) -> str:
    return "/".join(str(p.get(k)) for k in ("dtype", "quant"))


def differences(bound: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """``section.key`` names where ``config`` (resolved settings) differs from ``bound`` (:func:`settings_key`)."""
    ours, theirs = _flat(bound), _flat(settings_key(config))
    return sorted(
        f"{s}.{k}" for s, k in ours.keys() | theirs.keys() if ours.get((s, k)) != theirs.get((s, k))
    )


def _flat(config: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(s, k): v for s, values in config.items() for k, v in values.items()}


KNOWN_SCALES = {"vmaf": (0.0, 100.0)}  # scale names whose range is a fact of the metric


def stated_range(name: str) -> tuple[float, float] | None:
    """The range a scale's name states: ``mos-1-5`` / ``mos_1_5`` / ``1-10`` → (1, 5) / (1, 10); ``vmaf`` →
    (0, 100); None when the name states none."""
    import re

    if name.lower() in KNOWN_SCALES:
        return KNOWN_SCALES[name.lower()]
    match = re.search(r"(?:^|[^\d.])(\d+(?:\.\d+)?)[-_–](\d+(?:\.\d+)?)$", name)
    if not match:
        return None
    low, high = float(match.group(1)), float(match.group(2))
    return (low, high) if low < high else None


def check_scale(name: str, labels) -> None:
    """UsageError (one line) when the labels run outside the range the scale's name states (``--scale
    mos-1-5`` with labels up to 10): the file would carry a wrong scale."""
    stated = stated_range(name)
    if stated is None:
        return
    low, high = float(min(labels)), float(max(labels))
    if low < stated[0] or high > stated[1]:
        raise UsageError(
            f"--scale {name} states {stated[0]:g}–{stated[1]:g} but the labels run {low:g}–{high:g}",
            "name the scale after the labels' range (e.g. mos-1-10), or check the labels file",
        )


def make(
    fitted: Fit,
    scores,
    labels,
    *,
    scale: str,
    config: dict[str, Any],
    metrics: dict[str, Any],
    precision: dict[str, Any] | None = None,
) -> Calibration:
    """A new calibration from a fit, its pairs, the label scale's name and the scores' resolved settings."""
    model = config.get("model", {})
    return Calibration(
        kind=fitted.kind,
        params=fitted.params,
        score_range=(float(min(scores)), float(max(scores))),
        scale={"name": scale, "min": float(min(labels)), "max": float(max(labels))},
        model={k: model.get(k) for k in ("name", "repo", "revision")},
        settings=settings_key(config),
        metrics=metrics,
        n=len(labels),
        created=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        precision={k: precision.get(k) for k in ("dtype", "quant")} if precision else None,
    )


def write(calibration: Calibration, path: str) -> None:
    """Write atomically (a temporary file beside ``path``, then ``os.replace``); OutputError on OS errors."""
    write_json(calibration.to_json(), path)


def load(path: str) -> Calibration:
    """Read and check a calibration file; UsageError (exit 2, one line) for a missing, corrupt, hand-edited
    or newer file."""
    return from_json(read_json(path, "calibration file", REMAKE), str(path))


def from_json(body: Any, path: str = "calibration") -> Calibration:
    """A calibration from its JSON object (a file's content, or a server request's ``calibration``); the
    same refusals as :func:`load`, naming ``path``."""

    def refuse(why: str, fix: str = REMAKE) -> UsageError:
        return UsageError(f"{path}: {why}", fix)

    check_document(body, "vqa2.calibration", SCHEMA_VERSION, path, "calibration file", REMAKE)
    try:
        cal = Calibration(
            kind=body["kind"],
            params=body["params"],
            score_range=tuple(body["score_range"]),
            scale=dict(body["scale"]),
            model=dict(body["model"]),
            settings=dict(body["settings"]),
            metrics=dict(body.get("metrics") or {}),
            n=int(body["n"]),
            created=body.get("created", ""),
            source=str(path),
            precision=body.get("precision"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise refuse(f"missing or ill-typed key ({exc})") from None
    if cal.kind not in KINDS:
        raise refuse(f"unknown calibration kind {cal.kind!r}")
    return cal
