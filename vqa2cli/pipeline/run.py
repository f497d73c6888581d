"""Per video: decode → inputs → model → record. ``Scorer`` for scores (``Asker``, for answers, is in
pipeline/asking.py).

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
from ..records.results import ModelInfo, ScoreRecord, error_score_record
from ..registry import ModelRef
from .inputs import ModelInputs, build_inputs, token_budget
from .preflight import CheckedInputs, clip_shapes, preflight  # noqa: F401 - re-exported (pipeline.run's API)
from .prompts import Stalling


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
    fields = (
        "container",
        "codec",
        "width",
        "height",
        "rotation",
        "avg_fps",
        "vfr",
        "duration_s",
        "n_frames",
        "pix_fmt",
        "bit_depth",
        "interlaced",
        "transform",
        "stream_index",
    )
    decoded = {
        "decoded_frames": clip.decoded_frames,
        "damaged_frames": clip.damaged_frames,
        "discarded_frames": info.discarded_frames,
        "resolution_changes": [{"frame": i, "width": w, "height": h} for i, w, h in clip.resolution_changes],
    }
    return {**{f: getattr(info, f, None) for f in fields}, **decoded, **_file_stat(path)}


def sampling_section(clip, inputs: ModelInputs, settings: Settings) -> dict[str, Any]:
    """A record's ``sampling`` section: key frames and motion frames used, visual tokens, the rules that
    chose them (documented in docs/output.md); shared by score and answer records."""
    plan = clip.plan
    return {
        "keyframes": len(plan.keyframe_indices),
        "motion_frames": len(plan.motion_indices),
        "keyframe_step": plan.keyframe_step,
        "motion_stride": plan.motion_stride,
        "policy": plan.policy,
        "motion_frame_step": plan.motion_frame_step,
        "notes": list(plan.notes),
        "keyframe_indices": list(plan.keyframe_indices),
        "keyframe_times": [round(t, 4) for t in clip.keyframe_times],
        "keyframe_size": settings.video.keyframe_size,
        "motion_size": settings.video.motion_size,
        "resize": getattr(clip, "resize", settings.video.resize),
        "visual_tokens": inputs.n_visual_tokens,
        "motion_tokens": inputs.n_motion_tokens,
        "total_tokens": len(inputs.input_ids),
    }


class ModelSession:
    """A loaded model with its resolved settings: decode videos for it and run it, any number of times.

    ``settings`` is the resolved :class:`~vqa2cli.config.Settings`; ``loaded`` the
    :class:`~vqa2cli.modeling.loading.LoadedModel` (model, tokenizer, device, dtype, quant).
    """

    # decode_clip's signature: video.decode.decode_clip here (None), or a video.decode_pool.DecodePool's
    decoder: Callable[..., Any] | None = None
    # (items, prepare) → results in order with .item/.value/.error (jobs.prefetch.prefetch); None: one by one
    read_ahead: Callable[[list, Callable], Iterable[Any]] | None = None

    def __init__(self, settings: Settings, loaded):
        self.settings = settings
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.startup: dict[str, float] = {}  # import_s / load_s, put on the first record (see load)

    @classmethod
    def load(
        cls,
        settings: Settings,
        ref: ModelRef,
        *,
        offline: bool = False,
        clips: list[tuple[int, float]] | None = None,
    ):
        """Fetch ``ref``'s weights (a local folder as is, a Hub id through the HF cache) and load them as
        ``settings.runtime`` says; ``clips`` = the inputs' ``(n_frames, avg_fps)`` for the memory preflight.
        The seconds spent importing torch, transformers and the model code (0 when already imported) and
        loading go on the first record's ``timing``. Raises HubError, ModelNotFoundError,
        QuantizationUnavailableError, ModelRuntimeError (also when the model cannot fit the device's memory)."""
        import importlib

        started = time.perf_counter()
        importlib.import_module("vqa2cli.modeling.modeling_vqa2")  # torch + transformers' LLaVA-OV modules
        from ..modeling.hub import fetch_weights
        from ..modeling.loading import load_model

        import_s = time.perf_counter() - started
        from ..modeling.architectures import preflight_before_download

        preflight_before_download(ref, settings, clips=clips)  # does not fit: refused before a download
        local_dir = fetch_weights(ref, offline=offline)
        started = time.perf_counter()
        session = cls(settings, load_model(local_dir, settings, clips=clips))
        session.startup = {"import_s": import_s, "load_s": time.perf_counter() - started}
        return session

    def _take_startup(self) -> dict[str, float]:
        """The per-process costs, once: on the first record only."""
        startup, self.startup = self.startup, {}
        return startup

    @property
    def memory_note(self) -> str:
        """The preflight's one line (what ``--quant auto``/``--dtype auto`` picked, estimate, available), then
        the quantized-weights cache's lines (written, or a warning), if any."""
        return "\n".join(self.memory_lines)

    @property
    def memory_lines(self) -> list[str]:
        """:attr:`memory_note` as its lines, for the console (which shows each message as one line)."""
        note = self.loaded.memory.note if self.loaded.memory is not None else ""
        return [line for line in (note, *self.loaded.notes) if line.strip()]

    @property
    def model_info(self) -> ModelInfo:
        m, ld = self.settings.model, self.loaded
        estimate = ld.memory.estimate.total_gb if ld.memory is not None else None
        return ModelInfo(
            name=m.name,
            repo=m.repo,
            revision=str(ld.revision),
            dtype=dtype_name(ld.dtype),
            quant=ld.quant,
            device=str(ld.device),
            estimated_memory_gb=estimate,
            quant_cache=ld.quant_cache,
        )

    def decode(
        self, path: str | Path, *, question: str | None = None, stalling: Stalling | None = None, info=None
    ):
        """Decode ``path`` for this model (its sizes, sampling and the tokens its prompt leaves) →
        ``DecodedClip``. ``question``: the longest question that will be asked about the clip (it takes
        tokens from the budget); ``info``: the clip's probe result when the caller has it. Decoded by
        ``decoder`` (worker processes) when one is set. Raises InputError subclasses."""
        from ..video.decode import decode_clip

        budget, copies = self.visual_limits(question=question, stalling=stalling)
        return (self.decoder or decode_clip)(
            str(path), self.settings.video, token_budget=budget, motion_copies=copies, info=info
        )

    def visual_limits(
        self, *, question: str | None = None, stalling: Stalling | None = None
    ) -> tuple[int, int]:
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

    def prepare(self, path: str | Path, *, stalling: Stalling | None = None, info=None) -> PreparedClip:
        """Decode and tokenise ``path`` (``info``: its probe when the caller has it). Raises InputError."""
        start = time.perf_counter()
        clip = self.decode(path, stalling=stalling, info=info)
        inputs = build_inputs(self.tokenizer, self.model.config, self.settings, clip, stalling=stalling)
        return PreparedClip(str(path), clip, inputs, time.perf_counter() - start)

    def level_logits(self, inputs: ModelInputs, timer=None):
        """Logits of the level words at the last prompt position (the prefix's last token); ``timer``
        (a stages.StageTimer) gets the pixel conversion's seconds."""
        import torch

        self._reset_peak()
        try:
            started = time.perf_counter()
            kwargs = self._forward_kwargs(inputs)
            if timer is not None:
                timer.add("pixels_s", time.perf_counter() - started)
            with torch.inference_mode():
                out = self.model(**kwargs, logits_to_keep=1)
        except torch.OutOfMemoryError as exc:
            raise ModelRuntimeError(
                "out of GPU memory while scoring", "try --quant 8bit/4bit or a lower --max-motion-frames"
            ) from exc
        return out.logits[0, -1, self.level_ids]

    def run(self, prepared: PreparedClip) -> ScoreRecord:
        from .scoring import score_from_logits
        from .stages import StageTimer

        start = time.perf_counter()
        with StageTimer(self.model) as timer:
            logits = self.level_logits(prepared.inputs, timer)
        result = score_from_logits(logits, self.settings.scoring.levels, self.settings.scoring.weights)
        infer_s = time.perf_counter() - start
        clip = prepared.clip
        return ScoreRecord(
            path=prepared.path,
            score=result.score,
            probs=result.probs,
            level=result.level,
            model=self.model_info,
            input=_input_section(prepared.path, clip),
            sampling=sampling_section(clip, prepared.inputs, self.settings),
            timing={
                **self._take_startup(),
                "decode_s": prepared.prepare_s,
                **timer.seconds,
                "infer_s": infer_s,
            },
            peak_gpu_mem_gb=self._peak_memory(),
            warnings=list(dict.fromkeys([*clip.info.warnings, *clip.warnings, *clip.plan.notes])),
            config=self.settings.to_dict(),
        )

    def score(self, path: str | Path, *, stalling: Stalling | None = None) -> ScoreRecord:
        """Score one video (``stalling``: the streaming scorer's per-frame stalling, see
        ``prompts.parse_stalling``). Raises InputError subclasses for unreadable videos,
        ModelRuntimeError (out of GPU memory)."""
        return self.run(self.prepare(path, stalling=stalling))

    def score_files(
        self,
        paths: Iterable[str | Path],
        *,
        stalling: Stalling | None = None,
        checked: CheckedInputs | None = None,
    ) -> Iterator[ScoreRecord]:
        """Score each video in order; an unreadable one yields its ``status="error"`` record instead of
        raising (as ``vqa2 score`` prints it). Model errors still raise. ``checked``: the caller's preflight
        (:class:`CheckedInputs`), not repeated here: its errors become error records, its probes are reused.
        Without it each file is checked once, by its probe when decoding. With ``read_ahead`` set (the
        API's ``load_scorer(workers=...)``, ``vqa2 score``), clips n+1… are prepared while the model runs
        clip n; the records are the same, in the same order."""

        def prepare(path):
            error = checked.errors.get(str(path)) if checked is not None else None
            if error is not None:
                raise error
            info = checked.info(path) if checked is not None else None
            return self.prepare(path, stalling=stalling, info=info)

        for done in (self.read_ahead or _one_by_one)(list(paths), prepare):
            path, prepared, error = done.item, done.value, done.error
            del done  # the loop holds no clip once it is scored
            try:
                if error is not None:
                    raise error
                record = self.run(prepared)
            except InputError as exc:
                record = error_record(path, exc, self.settings)
            del prepared, error
            yield record


@dataclass
class _Done:
    item: Any
    value: Any = None
    error: BaseException | None = None


def _one_by_one(items: list, prepare: Callable[[Any], Any]) -> Iterator[_Done]:
    """``read_ahead`` without threads: each item prepared when the consumer asks for it."""
    for item in items:
        try:
            yield _Done(item, prepare(item))
        except InputError as exc:
            yield _Done(item, error=exc)


def dtype_name(dtype) -> str:
    """A torch dtype as the config spells it (``torch.bfloat16`` → ``bf16``); unknown ones as ``str``."""
    from ..config import DTYPES

    return {f"torch.{attr}": name for name, attr in DTYPES.items()}.get(str(dtype), str(dtype))
