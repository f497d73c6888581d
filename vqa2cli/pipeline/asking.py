"""``Asker``: answers about a video's quality, a :class:`~vqa2cli.pipeline.run.ModelSession` like the
``Scorer``; several questions about one clip reuse one decode and one prefill of the video prefix."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ..config import Settings
from ..records.results import AnswerRecord
from .inputs import ModelInputs, build_inputs
from .run import ModelSession, sampling_section


class Asker(ModelSession):
    """Answers about a video's quality: ``ask(path, questions)``, or ``decode`` once and ``answer`` many.
    Several questions about the same clip object reuse one prefill of the video prefix
    (pipeline/prefix_cache.py): pixels, SigLIP, SlowFast and the prefix's KV cache are computed once."""

    def __init__(self, settings: Settings, loaded):
        super().__init__(settings, loaded)
        self._prefix = None  # prefix_cache.VideoPrefix of the last clip asked about

    def ask(
        self, path: str | Path, questions: str | list[str], on_text: Callable[[str], None] | None = None
    ) -> AnswerRecord | list[AnswerRecord]:
        """Answer one question (→ a record) or several (→ a list, one decode for all). Raises InputError
        subclasses for an unreadable video, UsageError for an empty question."""
        asked = [questions] if isinstance(questions, str) else list(questions)
        if not asked or not all(q.strip() for q in asked):
            from ..errors import UsageError

            raise UsageError("no question given", "pass a non-empty question")
        clip = self.decode(path, question=max(asked, key=len))
        records = [self.answer(clip, path, q, on_text) for q in asked]
        return records[0] if isinstance(questions, str) else records

    def answer(
        self,
        clip,
        path: str | Path,
        question: str,
        on_text: Callable[[str], None] | None = None,
        *,
        reuse_prefix: bool = True,
    ) -> AnswerRecord:
        """Answer one question about an already-decoded clip (several questions reuse one decode and, with
        ``reuse_prefix``, one prefill of the video; ``reuse_prefix=False`` runs the whole prompt afresh)."""
        from .answering import generate_answer
        from .stages import StageTimer

        inputs = build_inputs(self.tokenizer, self.model.config, self.settings, clip, question=question)
        self._reset_peak()
        start = time.perf_counter()
        with StageTimer(self.model) as timer:
            kwargs, cached = self._generation_kwargs(clip, inputs, timer, reuse_prefix)
            text, n_new = generate_answer(
                self.model, self.tokenizer, kwargs, self.settings.generation, on_text
            )
        gen = self.settings.generation
        return AnswerRecord(
            path=str(path),
            question=question,
            answer=text,
            model=self.model_info,
            sampling=sampling_section(clip, inputs, self.settings),
            timing={
                **self._take_startup(),
                "decode_s": clip.decode_s,
                **timer.seconds,
                "infer_s": time.perf_counter() - start,
            },
            generation={
                "max_new_tokens": gen.max_new_tokens,
                "do_sample": gen.do_sample,
                "repetition_penalty": gen.repetition_penalty,
                "new_tokens": n_new,
                **cached,
            },
            warnings=list(dict.fromkeys([*clip.info.warnings, *clip.warnings, *clip.plan.notes])),
            config=self.settings.to_dict(),
        )

    def _generation_kwargs(self, clip, inputs: ModelInputs, timer, reuse: bool):
        """(generate kwargs, {"cached_prefix_tokens": n, "prefix_reused": bool}); builds the clip's prefix
        cache when it is missing or stale."""
        from .prefix_cache import continue_kwargs, prefill_prefix, prefix_length

        ids = inputs.input_ids
        n = prefix_length(ids, self.model.config) if reuse else 0
        reused = n > 0 and self._prefix is not None and self._prefix.matches(clip, ids)
        if n > 0 and not reused:
            self._prefix = None  # free the previous clip's cache before building this one
        if not reused:
            started = time.perf_counter()
            kwargs = self._forward_kwargs(inputs)
            timer.add("pixels_s", time.perf_counter() - started)
            if n == 0:
                return kwargs, {"cached_prefix_tokens": 0, "prefix_reused": False}
            self._prefix = prefill_prefix(self.model, kwargs, clip, n)
        n = len(self._prefix.ids)
        return (
            continue_kwargs(self._prefix, ids, self.loaded.device),
            {"cached_prefix_tokens": n, "prefix_reused": reused},
        )
