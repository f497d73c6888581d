"""``vqa2 score --explain`` as a scoring source of the one run (:func:`vqa2cli.jobs.score_run.run_score`).

Two phases on one machine, never both models held: phase 1 scores every file with the local source (its
window rows held back), then the scorer is released (``jobs/explain_assistant.release``); phase 2 loads the assistant
and asks it about the selected windows only (``pipeline/explain.py``). Then the records, with their
explanations, go to the run like any other source's: printed, gated, plotted, their window rows written.
When the assistant cannot be loaded, every record is still handed to the run, then :class:`ExplainError`
ends it (exit 4: the scores are kept). Ctrl-C while explaining hands over the records explained so far.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..records.results import ScoreRecord
from . import explain as job
from . import explain_assistant as assistant
from .score_run import LocalScoring


class ExplainingScoring:
    """A :class:`~vqa2cli.jobs.score_run.ScoringSource`: ``local`` scores, then ``options`` (an
    :class:`~vqa2cli.jobs.explain.ExplainOptions`) explain; ``fail_under``/``fail_segment_under`` (0-1 scale)
    steer the default selection. The assistant's card is resolved here, before anything is scored."""

    def __init__(
        self,
        local: LocalScoring,
        options,
        console,
        *,
        fail_under: float | None = None,
        fail_segment_under: float | None = None,
    ):
        self.local, self.options, self.console = local, options, console
        self.asker_settings, self.asker_ref = options.resolve()  # an unknown card fails before any scoring
        self.selection = job.selection(
            self.asker_settings, options, fail_under=fail_under, fail_segment_under=fail_segment_under
        )
        self._thumbs: dict[str, Any] = {}
        self._current: Any = ()

    def records(self, paths: list[str], on_window) -> Iterator[ScoreRecord]:
        assistant.preflight_assistant(
            self.asker_settings, self.asker_ref, self.console, offline=self.options.offline
        )
        held: list[tuple] = []  # (path, entry, stat): the window rows, written once explained
        records: list[ScoreRecord] = []
        try:
            for record in self.local.records(paths, lambda *row: held.append(row)):
                records.append(record)
                self._thumbs[record.path] = self.local.thumbnails()
        finally:
            assistant.release(self.local.scorer)  # the scorer's weights go before the assistant's come
            self.local.scorer = None
        error, interrupted = None, False
        try:
            error = self._explain(job.plan(records, self.selection))
        except KeyboardInterrupt:  # the scores (and explanations made so far) are still printed
            self.console.warning(
                "explain: interrupted: printing the scores with the explanations made so far"
            )
            interrupted = True
        for row in held:
            on_window(*row)
        for record in records:
            self._current = self._thumbs.get(record.path, ())
            yield record
        if interrupted:
            raise KeyboardInterrupt
        if error is not None:
            raise error

    def _explain(self, todo) -> assistant.ExplainError | None:
        """Phase 2; the ExplainError when the assistant cannot be loaded, else None."""
        if not todo:
            self.console.info("explain: nothing selected to explain")
            return None
        self.console.info(job.cost_line(todo, self.asker_settings))
        try:
            asker = assistant.load_assistant(
                self.asker_settings, self.asker_ref, self.console, offline=self.options.offline
            )
        except assistant.ExplainError as exc:
            return exc
        try:
            forwards = job.explain_all(todo, asker, self.console)
        finally:
            assistant.release(asker)
        self.console.info(f"explain: {forwards} assistant forward(s) run")
        return None

    def thumbnails(self):
        return self._current
