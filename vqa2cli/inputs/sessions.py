"""The Python API's scorer and assistant (``vqa2cli.load_scorer`` / ``load_assistant``) taking what the
commands take: a path, ``-`` (stdin), an ``http(s)://`` URL or an HLS/DASH manifest, made local by
:func:`~vqa2cli.inputs.materialize.materialized` (records name the input as given, plus ``origin``).
Imported only when a model is loaded (it imports the pipeline)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..pipeline.asking import Asker
from ..pipeline.segmented import SegmentingScorer
from .given import input_kind
from .materialize import Answers, materialized


class InputsScorer(SegmentingScorer):
    """A :class:`~vqa2cli.pipeline.segmented.SegmentingScorer` whose ``score`` and ``score_files`` accept
    URLs and manifests too (``variant``: ``highest`` by default, see ``vqa2 score --variant``)."""

    variant: str | None = None

    def score(self, path: str | Path, *, stalling=None):
        """One record for ``path``; raises the InputError of an input that cannot be read (a network
        failure: :class:`~vqa2cli.inputs.http.NetworkInputError`). With ``variant="all"`` the last listed
        variant's record: use :meth:`score_files` for every variant."""
        with materialized([str(path)], variant=self.variant) as inputs:
            item = inputs.items[-1]
            if item.error is not None:
                raise item.error
            assert item.path is not None
            (record,) = inputs.renamed([super().score(item.path, stalling=stalling)])
            return record

    def score_files(self, paths: Iterable[str | Path], *, stalling=None, checked=None) -> Iterator[Any]:
        """Each input's record in order (``variant="all"``: one per variant); an input that cannot be read
        is its error record, as ``vqa2 score`` prints it."""
        from ..pipeline.run import error_record

        with materialized([str(p) for p in paths], variant=self.variant) as inputs:
            records = super().score_files(inputs.paths, stalling=stalling, checked=checked)

            def make_error(exc):
                record = error_record(exc.path, exc, self.settings)
                record.origin = {"given": exc.path, "kind": input_kind(exc.path).value}
                return record

            yield from inputs.with_failures(records, make_error)


class InputsAsker(Asker):
    """An :class:`~vqa2cli.pipeline.asking.Asker` whose ``ask`` accepts URLs and manifests too (``decode``
    and ``answer`` take local files)."""

    variant: str | None = None

    def ask(self, path, questions, on_text=None):
        with materialized([str(path)], variant=self.variant) as inputs:
            (item,) = inputs.items
            if item.error is not None:
                raise item.error
            assert item.path is not None
            out = super().ask(item.path, questions, on_text)
            records = list(inputs.renamed(out if isinstance(out, list) else [out]))
            return records if isinstance(out, list) else records[0]


__all__ = ["InputsScorer", "InputsAsker", "Answers"]
