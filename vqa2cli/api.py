"""The Python API: load a VQA² scorer or assistant once, then score or question any number of videos.

    import vqa2cli

    scorer = vqa2cli.load_scorer("ugc-scorer", device="cuda", dtype="fp16")
    for record in scorer.score_files(["a.mp4", "b.mkv"]):
        print(record.path, record.score)            # 0-1, the paper's scale

    assistant = vqa2cli.load_assistant("assistant")
    for answer in assistant.ask("a.mp4", ["Is there stutter?", "How sharp is it?"]):   # one decode
        print(answer.answer)

A pipe or a stream without a known duration, window by window as it arrives (docs/live.md)::

    record = vqa2cli.score_stream(scorer, "-", segments="10s", duration="5m", on_window=print)

The records are the ones the commands print (``ScoreRecord`` / ``AnswerRecord``, ``.to_dict()`` is the
``--format json`` object). Settings resolve exactly as on the command line: defaults ← model card ←
``config`` file ← ``settings`` mapping ← the keyword arguments (``device``, ``dtype``, ``quant``...).
Nothing heavy (torch, transformers, PyAV) is imported until a model is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import flags_layer, load_config_file
from .video.decode_pool import DEFAULT_DECODE_PROCESSES

if TYPE_CHECKING:
    from .config import Settings
    from .pipeline.asking import Asker
    from .pipeline.run import Scorer
    from .registry import ModelRef

__all__ = ["load_scorer", "load_assistant", "resolve"]


def resolve(
    model: str | None = None,
    task: str = "score",
    *,
    config: str | Path | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    device: str | None = None,
    dtype: str | None = None,
    quant: str | None = None,
) -> tuple[Settings, ModelRef]:
    """The settings a model would load with, and where its weights are, without loading or downloading.

    ``model``: a card name (``vqa2 models list``), a Hub id ``org/name[@revision]`` or a local checkpoint
    folder; None = the task's default card (``ugc-scorer`` for ``task="score"``, ``assistant`` for
    ``"ask"``). ``config``: a YAML/TOML settings file. ``settings``: a nested mapping of overrides,
    e.g. ``{"video": {"max_motion_frames": 500}, "generation": {"max_new_tokens": 64}}``.
    ``device``: auto | cpu | cuda[:N] | mps; ``dtype``: auto | bf16 | fp16 | fp32 (auto = fp16 on CUDA as
    the official scripts; on the CPU bf16 where it is native, else fp32 if it fits, else bf16);
    ``quant``: auto | none | 8bit | 4bit (bitsandbytes, language model only; auto = the first that fits the
    memory preflight, modeling/precision.py).
    Raises ModelNotFoundError (unknown card, missing folder) and ConfigError (unknown key, bad value).
    """
    from .registry import resolve_model

    file_layer = load_config_file(config) if config is not None else None
    flags = flags_layer(runtime__device=device, runtime__dtype=dtype, runtime__quant=quant)
    return resolve_model(model, task, file_layer, settings, flags)


def load_scorer(
    model: str | None = None,
    *,
    device: str | None = None,
    dtype: str | None = None,
    quant: str | None = None,
    config: str | Path | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    offline: bool = False,
    workers: int | None = None,
    decode_processes: int = DEFAULT_DECODE_PROCESSES,
) -> Scorer:
    """Load a scorer once (arguments as :func:`resolve`; ``offline=True`` never contacts the Hub).

    The returned :class:`~vqa2cli.pipeline.segmented.SegmentingScorer` (a ``Scorer``) has ``score(path, stalling=None) → ScoreRecord``
    (``path``: a file, ``-``, an ``http(s)://`` URL or an HLS/DASH manifest, docs/inputs.md; set
    ``scorer.variant = "720p"`` or ``"all"`` to choose a manifest's variant)
    (raises InputError subclasses for unreadable videos) and ``score_files(paths)`` (yields error records
    instead, as ``vqa2 score``). Scores are on the 0-1 scale (weights 1, .75, .5, .25, 0 over
    high/good/fair/poor/low, spec §5); ``official_score`` = 0.2 + 0.8 × score is what the official
    scripts print. Raises UsageError for a model whose prompt reads no score (an assistant), HubError
    when the weights are neither cached nor reachable, QuantizationUnavailableError when ``quant`` cannot
    be honoured (never a silent fallback).

    ``score_files`` decodes clips n+1… while the model runs clip n, as ``vqa2 score FILE...``: ``workers``
    threads ahead (None = ``min(4, CPUs)``, 0 = one by one) and, with ``decode_processes=N`` (default 0),
    N worker processes that decode and resize, the frames coming back over shared memory (same records;
    ``scorer.decoder.close()`` stops them, else they end with the interpreter; a script needs the
    ``if __name__ == "__main__":`` guard, docs/performance.md).
    """
    from .inputs.sessions import InputsScorer
    from .jobs.feeding import attach, check_counts
    from .jobs.prefetch import default_workers
    from .pipeline.run import check_scoring_prompt

    resolved, ref = resolve(
        model, "score", config=config, settings=settings, device=device, dtype=dtype, quant=quant
    )
    check_scoring_prompt(
        resolved,
        "load a scorer card (ugc-scorer, streaming-scorer) or pass "
        "settings={'model': {'prompt': 'ugc_init'}}",
    )
    # as `vqa2 score`: one forward within the model's limits, windows pooled past them
    # (video.long_clip_policy "segments"); scorer.configure(window_s=10.0) windows every clip
    check_counts(workers, decode_processes)
    scorer = InputsScorer.load(resolved, ref, offline=offline).configure()  # URLs, manifests, - too
    threads = default_workers() if workers is None else workers
    attach(scorer, workers=threads, processes=decode_processes)
    return scorer


def load_assistant(
    model: str | None = None,
    *,
    device: str | None = None,
    dtype: str | None = None,
    quant: str | None = None,
    config: str | Path | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    offline: bool = False,
) -> Asker:
    """Load the assistant once (arguments as :func:`resolve`, default card ``assistant``).

    The returned :class:`~vqa2cli.pipeline.asking.Asker` has ``ask(path, question) → AnswerRecord`` and
    ``ask(path, [questions]) → list[AnswerRecord]`` (one decode for all questions); or ``decode(path,
    question=longest)`` once and ``answer(clip, path, question, on_text=None)`` per question, ``on_text``
    receiving the answer as it streams. Decoding is greedy unless ``settings={"generation":
    {"do_sample": True}}``. Raises as :func:`load_scorer` (but takes any prompt style).
    """
    from .inputs.sessions import InputsAsker

    resolved, ref = resolve(
        model, "ask", config=config, settings=settings, device=device, dtype=dtype, quant=quant
    )
    return InputsAsker.load(resolved, ref, offline=offline)  # URLs, manifests, - too
