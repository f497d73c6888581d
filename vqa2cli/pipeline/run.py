"""Per video: decode → inputs → model → record. ``Scorer`` for scores, ``Asker`` for answers.

``prepare`` does all CPU work (decode, tokenise, uint8 tensors) and touches no model state, so batch
workers may call it from threads while the main thread runs the model.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

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


def error_record(path: str | Path, exc: InputError, settings: Settings) -> ScoreRecord:
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
    try:
        st = os.stat(path)
    except OSError:
        return {}
    return {"size_bytes": st.st_size, "mtime": round(st.st_mtime, 6)}


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


class _Session:
    def __init__(self, settings: Settings, loaded):
        self.settings = settings
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer

    @classmethod
    def load(cls, settings: Settings, ref: ModelRef, *, offline: bool = False):
        from ..modeling.loading import load_model

        if ref.local_dir is not None:
            local_dir = ref.local_dir
        else:
            from ..modeling.hub import fetch_weights

            local_dir = fetch_weights(ref, offline=offline)
        return cls(settings, load_model(Path(local_dir), settings))

    @property
    def model_info(self) -> ModelInfo:
        m, ld = self.settings.model, self.loaded
        return ModelInfo(name=m.name, repo=m.repo, revision=str(ld.revision), dtype=_dtype_name(ld.dtype),
                         quant=ld.quant, device=str(ld.device))

    def decode(self, path: str | Path, *, question: str | None = None, stalling: Stalling | None = None):
        from ..video.decode import decode_clip

        budget = token_budget(self.tokenizer, self.settings, question=question, stalling=stalling)
        copies = 2 if self.settings.model.motion_layout == "duplicated" else 1
        return decode_clip(str(path), self.settings.video, token_budget=budget, motion_copies=copies,
                           resize=self.settings.video.resize)

    def _forward_kwargs(self, inputs: ModelInputs) -> dict[str, Any]:
        return inputs.model_kwargs(self.loaded.device, self.loaded.dtype, self.settings.video.motion_norm)

    def _peak_memory(self) -> float | None:
        import torch

        if self.loaded.device.type != "cuda":
            return None
        return torch.cuda.max_memory_allocated(self.loaded.device) / 1e9

    def _reset_peak(self) -> None:
        import torch

        if self.loaded.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.loaded.device)


class Scorer(_Session):
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
        return self.run(self.prepare(path, stalling=stalling))


class Asker(_Session):
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
