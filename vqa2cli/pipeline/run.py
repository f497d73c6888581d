"""Per video: decode → inputs → model → record. ``Scorer`` for scores, ``Asker`` for answers.

Both are a :class:`ModelSession`: a model loaded once (``load``), then used for any number of videos.
They are what the Python API (:mod:`vqa2cli.api`) returns and what the commands run. ``prepare`` does all
CPU work (decode, tokenise, uint8 tensors) and touches no model state, so batch workers may call it from
threads while the main thread runs the model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import InputError, ModelRuntimeError
from ..output.records import AnswerRecord, ModelInfo, ScoreRecord, error_score_record
from ..registry import ModelRef
from .inputs import ModelInputs, build_inputs, token_budget
from .prompts import Stalling


def preflight(paths: list[str | Path]) -> list[InputError]:
    """Cheap checks before any weights load: the file exists, is a file and is not empty."""
    from ..video.probe import check_path

    errors: list[InputError] = []
    for raw in paths:
        try:
            check_path(raw)
        except InputError as exc:
            errors.append(exc)
    return errors


def check_scoring_prompt(settings: Settings, fix: str) -> None:
    """UsageError when the model's prompt style reads no score (an assistant's); ``fix`` says what to do."""
    from ..errors import UsageError
    from .prompts import SCORING_STYLES

    if settings.model.prompt not in SCORING_STYLES:
        m = settings.model
        raise UsageError(f"model '{m.name}' uses prompt '{m.prompt}', not a scoring prompt", fix)


def error_record(path: str | Path, exc: InputError, settings: Settings) -> ScoreRecord:
    """The ``status="error"`` row for a video that could not be scored (code, one-line message, file stat)."""
    rec = error_score_record(str(path), exc.code, exc.one_line(), config=settings.to_dict())
    rec.input = {**getattr(exc, "input", {}), **_file_stat(path)}  # damaged_input: n_frames, decoded_frames
    return rec


@dataclass
class PreparedClip:
    path: str
    clip: Any  # video.decode.DecodedClip
    inputs: ModelInputs
    prepare_s: float


def _file_stat(path: str | Path) -> dict[str, Any]:
    from ..video.probe import file_stat

    stat = file_stat(path)
    return stat.as_dict() if stat is not None else {}


def _input_section(path: str | Path, clip) -> dict[str, Any]:
    """The record's ``input``: the probe's facts (frames as a player shows them), what the decoder
    returned (``decoded_frames``, ``damaged_frames``), every size change, and the file's stat."""
    info = clip.info
    fields = ("container", "codec", "width", "height", "rotation", "avg_fps", "vfr", "duration_s",
              "n_frames", "pix_fmt", "bit_depth", "interlaced")
    decoded = {
        "decoded_frames": clip.decoded_frames, "damaged_frames": clip.damaged_frames,
        "discarded_frames": info.discarded_frames,
        "resolution_changes": [{"frame": i, "width": w, "height": h} for i, w, h in clip.resolution_changes],
    }
    return {**{f: getattr(info, f, None) for f in fields}, **decoded, **_file_stat(path)}


def _sampling_section(clip, inputs: ModelInputs, settings: Settings) -> dict[str, Any]:
    plan = clip.plan
    return {
        "keyframes": len(plan.keyframe_indices), "motion_frames": len(plan.motion_indices),
        "keyframe_step": plan.keyframe_step, "motion_stride": plan.motion_stride, "policy": plan.policy,
        "motion_frame_step": plan.motion_frame_step,
        "notes": list(plan.notes), "keyframe_indices": list(plan.keyframe_indices),
        "keyframe_times": [round(t, 4) for t in clip.keyframe_times],
        "keyframe_size": settings.video.keyframe_size, "motion_size": settings.video.motion_size,
        "resize": getattr(clip, "resize", settings.video.resize),
        "visual_tokens": inputs.n_visual_tokens, "motion_tokens": inputs.n_motion_tokens,
        "total_tokens": len(inputs.input_ids),
    }


class ModelSession:
    """A loaded model with its resolved settings: decode videos for it and run it, any number of times.

    ``settings`` is the resolved :class:`~vqa2cli.config.Settings`; ``loaded`` the
    :class:`~vqa2cli.modeling.loading.LoadedModel` (model, tokenizer, device, dtype, quant).
    """

    def __init__(self, settings: Settings, loaded):
        self.settings = settings
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer

    @classmethod
    def load(cls, settings: Settings, ref: ModelRef, *, offline: bool = False):
        """Fetch ``ref``'s weights (a local folder as is, a Hub id through the HF cache) and load them as
        ``settings.runtime`` says. Raises HubError, ModelNotFoundError, QuantizationUnavailableError,
        ModelRuntimeError."""
        from ..modeling.hub import fetch_weights
        from ..modeling.loading import load_model

        return cls(settings, load_model(fetch_weights(ref, offline=offline), settings))

    @property
    def model_info(self) -> ModelInfo:
        m, ld = self.settings.model, self.loaded
        return ModelInfo(name=m.name, repo=m.repo, revision=str(ld.revision), dtype=_dtype_name(ld.dtype),
                         quant=ld.quant, device=str(ld.device))

    def decode(self, path: str | Path, *, question: str | None = None, stalling: Stalling | None = None,
               info=None):
        """Decode ``path`` for this model (its sizes, sampling and the tokens its prompt leaves) →
        ``DecodedClip``. ``question``: the longest question that will be asked about the clip (it takes
        tokens from the budget); ``info``: the clip's probe result when the caller has it. Raises
        InputError subclasses."""
        from ..video.decode import decode_clip

        budget, copies = self.visual_limits(question=question, stalling=stalling)
        return decode_clip(str(path), self.settings.video, token_budget=budget, motion_copies=copies, info=info)

    def visual_limits(self, *, question: str | None = None, stalling: Stalling | None = None) -> tuple[int, int]:
        """(token budget for the visual blocks, motion copies in the prompt) of this model and prompt."""
        budget = token_budget(self.tokenizer, self.settings, question=question, stalling=stalling)
        return budget, self.settings.model.motion_copies

    def _forward_kwargs(self, inputs: ModelInputs) -> dict[str, Any]:
        return inputs.model_kwargs(self.loaded.device, self.loaded.dtype, self.settings.video.motion_norm)

    def _peak_memory(self) -> float | None:
        """Peak GPU memory of the last model call in GB (1e9 bytes); None off CUDA."""
        from ..modeling.memory import peak_memory_bytes

        peak = peak_memory_bytes(self.loaded.device)
        return None if peak is None else peak / 1e9

    def _reset_peak(self) -> None:
        from ..modeling.memory import reset_peak_memory

        reset_peak_memory(self.loaded.device)


class Scorer(ModelSession):
    """Quality scores (0-1, the paper's weights over the level words): ``score(path) → ScoreRecord``."""

    def __init__(self, settings: Settings, loaded):
        super().__init__(settings, loaded)
        from .scoring import level_token_ids

        self.level_ids = level_token_ids(self.tokenizer, settings.scoring.levels)

    def prepare(self, path: str | Path, *, stalling: Stalling | None = None) -> PreparedClip:
        start = time.perf_counter()
        clip = self.decode(path, stalling=stalling)
        inputs = build_inputs(self.tokenizer, self.model.config, self.settings, clip, stalling=stalling)
        return PreparedClip(str(path), clip, inputs, time.perf_counter() - start)

    def level_logits(self, inputs: ModelInputs):
        """Logits of the level words at the last prompt position (the prefix's last token)."""
        import torch

        self._reset_peak()
        try:
            with torch.inference_mode():
                out = self.model(**self._forward_kwargs(inputs), logits_to_keep=1)
        except torch.OutOfMemoryError as exc:
            raise ModelRuntimeError("out of GPU memory while scoring",
                                    "try --quant 8bit/4bit or a lower --max-motion-frames") from exc
        return out.logits[0, -1, self.level_ids]

    def run(self, prepared: PreparedClip) -> ScoreRecord:
        from .scoring import score_from_logits

        start = time.perf_counter()
        logits = self.level_logits(prepared.inputs)
        result = score_from_logits(logits, self.settings.scoring.levels, self.settings.scoring.weights)
        infer_s = time.perf_counter() - start
        clip = prepared.clip
        return ScoreRecord(
            path=prepared.path, score=result.score, probs=result.probs, level=result.level,
            model=self.model_info, input=_input_section(prepared.path, clip),
            sampling=_sampling_section(clip, prepared.inputs, self.settings),
            timing={"decode_s": prepared.prepare_s, "infer_s": infer_s},
            peak_gpu_mem_gb=self._peak_memory(),
            warnings=list(dict.fromkeys([*clip.info.warnings, *clip.warnings, *clip.plan.notes])),
            config=self.settings.to_dict(),
        )

    def score(self, path: str | Path, *, stalling: Stalling | None = None) -> ScoreRecord:
        """Score one video (``stalling``: the streaming scorer's per-frame stalling, see
        ``prompts.parse_stalling``). Raises InputError subclasses for unreadable videos,
        ModelRuntimeError (out of GPU memory)."""
        return self.run(self.prepare(path, stalling=stalling))

    def score_files(self, paths: Iterable[str | Path], *,
                    stalling: Stalling | None = None) -> Iterator[ScoreRecord]:
        """Score each video in order; an unreadable one yields its ``status="error"`` record instead of
        raising (as ``vqa2 score`` prints it). Model errors still raise."""
        for path in paths:
            try:
                problems = preflight([path])
                if problems:
                    raise problems[0]
                yield self.score(path, stalling=stalling)
            except InputError as exc:
                yield error_record(path, exc, self.settings)


class Asker(ModelSession):
    """Answers about a video's quality: ``ask(path, questions)``, or ``decode`` once and ``answer`` many."""

    def ask(self, path: str | Path, questions: str | list[str],
            on_text: Callable[[str], None] | None = None) -> AnswerRecord | list[AnswerRecord]:
        """Answer one question (→ a record) or several (→ a list, one decode for all). Raises InputError
        subclasses for an unreadable video, UsageError for an empty question."""
        asked = [questions] if isinstance(questions, str) else list(questions)
        if not asked or not all(q.strip() for q in asked):
            from ..errors import UsageError

            raise UsageError("no question given", "pass a non-empty question")
        clip = self.decode(path, question=max(asked, key=len))
        records = [self.answer(clip, path, q, on_text) for q in asked]
        return records[0] if isinstance(questions, str) else records

    def answer(self, clip, path: str | Path, question: str,
               on_text: Callable[[str], None] | None = None) -> AnswerRecord:
        """Answer one question about an already-decoded clip (several questions reuse one decode)."""
        from .answering import generate_answer

        inputs = build_inputs(self.tokenizer, self.model.config, self.settings, clip, question=question)
        self._reset_peak()
        start = time.perf_counter()
        text, n_new = generate_answer(self.model, self.tokenizer, self._forward_kwargs(inputs),
                                      self.settings.generation, on_text)
        gen = self.settings.generation
        return AnswerRecord(
            path=str(path), question=question, answer=text, model=self.model_info,
            sampling=_sampling_section(clip, inputs, self.settings),
            timing={"decode_s": clip.decode_s, "infer_s": time.perf_counter() - start},
            generation={"max_new_tokens": gen.max_new_tokens, "do_sample": gen.do_sample,
                        "repetition_penalty": gen.repetition_penalty, "new_tokens": n_new},
            warnings=list(dict.fromkeys([*clip.info.warnings, *clip.warnings, *clip.plan.notes])),
            config=self.settings.to_dict(),
        )


def _dtype_name(dtype) -> str:
    return {"torch.bfloat16": "bf16", "torch.float16": "fp16", "torch.float32": "fp32"}.get(str(dtype), str(dtype))
