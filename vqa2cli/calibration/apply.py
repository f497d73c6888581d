"""Apply a calibration to finished records and run the gates on the team's scale and on the spread.

:class:`RecordGates` is what ``--calibration FILE``, ``--fail-calibrated-under Y`` and
``--fail-uncertain-over S`` do to each score record before it is written:

* ``calibrated`` = ``{"value", "scale", "extrapolated"}`` on the record, and on each window of a windowed
  record (the first record's settings are checked against the calibration's: another model, revision,
  precision or frame policy is refused, UsageError exit 2, before anything is written);
* ``--fail-calibrated-under Y``: the calibrated value below ``Y`` (the team's scale) fails the gate;
* ``--fail-uncertain-over S``: ``spread.std`` above ``S`` (0–0.5, records/spread.py) fails the gate: the
  result needs a person.

Each failing file is named on stderr; :meth:`RecordGates.exit_code` turns an exit code that would be 0 into
1 (``GATE_FAILED``); 3 (unreadable inputs), 4, 5 and 130 keep their precedence. ``--fail-under`` and
``--fail-segment-under`` stay on the paper's 0–1 score.
"""

from __future__ import annotations

from typing import Any

from ..errors import ExitCode, UsageError
from .file import Calibration, load


class RecordGates:
    def __init__(
        self,
        calibration: Calibration | str | None = None,
        *,
        fail_calibrated_under: float | None = None,
        fail_uncertain_over: float | None = None,
    ):
        if isinstance(calibration, str):
            calibration = load(calibration)
        if fail_calibrated_under is not None and calibration is None:
            raise UsageError("--fail-calibrated-under needs --calibration FILE (the scale it compares on)")
        if fail_calibrated_under is not None and calibration is not None:
            check_threshold(calibration, fail_calibrated_under)
        if fail_uncertain_over is not None and not 0.0 <= fail_uncertain_over <= 0.5:
            raise UsageError(
                f"--fail-uncertain-over must be between 0 and 0.5, got {fail_uncertain_over}",
                "it compares spread.std, the standard deviation of the level weight (0-0.5)",
            )
        self.calibration, self.fail_calibrated_under = calibration, fail_calibrated_under
        self.fail_uncertain_over = fail_uncertain_over
        self.below: list[str] = []
        self.uncertain: list[str] = []
        self._checked = self._precision_checked = False

    @property
    def active(self) -> bool:
        return self.calibration is not None or self.fail_uncertain_over is not None

    def check_config(self, config: dict[str, Any]) -> None:
        """Refuse (UsageError) a calibration for other settings before any file is scored."""
        if self.calibration is not None:
            self.calibration.check_settings(config)
            self._checked = True

    def apply(self, record: Any, console=None) -> None:
        """Annotate ``record`` (a ScoreRecord, or a server one with ``data``) and count it for the gates."""
        if not self.active or getattr(record, "status", "ok") != "ok" or record.score is None:
            return
        if self.calibration is not None:
            if not self._checked:
                self.calibration.check_settings(record.config)
                self._checked = True
            if not self._precision_checked:
                self.calibration.check_precision(record.model)
                self._precision_checked = True
            record.calibrated = self.calibration.apply(record.score)
            for window in record.segments or ():
                window["calibrated"] = self.calibration.apply(window["score"])
            if isinstance(getattr(record, "data", None), dict):  # a --server record prints its JSON as is
                record.data["calibrated"] = record.calibrated
            value = record.calibrated["value"]
            if self.fail_calibrated_under is not None and value < self.fail_calibrated_under:
                self.below.append(record.path)
                _say(
                    console,
                    f"{record.path}: {value:.4g} on {record.calibrated['scale']} is below "
                    f"--fail-calibrated-under {self.fail_calibrated_under:g}",
                )
        if self.fail_uncertain_over is not None:
            spread = record.to_dict().get("spread") or {}
            if spread.get("std") is not None and spread["std"] > self.fail_uncertain_over:
                self.uncertain.append(record.path)
                _say(
                    console,
                    f"{record.path}: uncertain, spread {spread['std']:.3f} > --fail-uncertain-over "
                    f"{self.fail_uncertain_over:g}: have a person look",
                )

    def exit_code(self, code: ExitCode | int, console=None) -> ExitCode:
        """``code`` unless it is 0 and a gate here failed (then 1, with a summary line on stderr)."""
        code = ExitCode(int(code))
        if code != ExitCode.OK or not (self.below or self.uncertain):
            return code
        if self.below:
            _say(
                console,
                f"{len(self.below)} file(s) below --fail-calibrated-under {self.fail_calibrated_under:g} "
                f"on {self.calibration.scale['name']}",
            )
        if self.uncertain:
            _say(
                console,
                f"{len(self.uncertain)} file(s) over --fail-uncertain-over {self.fail_uncertain_over:g}",
            )
        return ExitCode.GATE_FAILED


def check_threshold(calibration: Calibration, threshold: float) -> None:
    """UsageError (one line) when ``--fail-calibrated-under`` ``threshold`` cannot separate anything: at or
    below the lowest value the map gives for a 0–1 score (no file can fail) or above the highest (every file
    fails) — e.g. 50 on a calibration to a 1–5 MOS."""
    low, high = (float(v) for v in calibration.fit([0.0, 1.0]))  # the map is non-decreasing (fit.py)
    if low < threshold <= high:
        return
    scale = calibration.scale
    outcome = "every file would fail" if threshold > high else "no file could fail"
    raise UsageError(
        f"--fail-calibrated-under {threshold:g} is outside what the calibration gives on {scale['name']} "
        f"({low:.4g}–{high:.4g}; its labels ran {scale['min']:g}–{scale['max']:g}): {outcome}",
        f"give a threshold on the calibration's scale, between {low:.4g} and {high:.4g}",
    )


def _say(console, line: str) -> None:
    if console is not None:
        console.error(line)
