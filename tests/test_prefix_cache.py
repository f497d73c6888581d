"""KV-cache reuse in `ask` (pipeline/prefix_cache.py): the video prefix is prefilled once per clip and each
question generates from a copy of its cache. Greedy answers must be token-identical to the uncached path."""

from __future__ import annotations

import pytest
import torch

QUESTIONS = ("Is it sharp?", "Is there stutter?", "Describe the quality issues.", "A", "\nodd  spacing: ok?")


@pytest.fixture(scope="module", params=["plain", "duplicated"])
def asker(request, tiny_model_dir):
    from vqa2cli.cli.options import resolve_settings
    from vqa2cli.pipeline.asking import Asker

    settings, ref = resolve_settings(
        "ask",
        str(tiny_model_dir),
        None,
        runtime__device="cpu",
        generation__max_new_tokens=4,
        model__motion_layout=request.param,
        video__motion_size=64,
    )
    return Asker.load(settings, ref)


@pytest.fixture(scope="module")
def clips(asker, make_clip):
    paths = [
        make_clip("prefix_a.mp4", seconds=2.0, fps=8),
        make_clip("prefix_b.mp4", seconds=2.0, fps=8, pattern="noise"),
    ]
    return [(p, asker.decode(p, question=max(QUESTIONS, key=len))) for p in paths]


def _generate(asker, kwargs):
    from vqa2cli.pipeline.answering import stop_ids

    with torch.inference_mode():
        out = asker.model.generate(
            **kwargs,
            max_new_tokens=4,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            repetition_penalty=1.05,
            eos_token_id=stop_ids(asker.tokenizer),
            pad_token_id=stop_ids(asker.tokenizer)[0],
            output_logits=True,
            return_dict_in_generate=True,
        )
    return out.sequences[0].tolist(), torch.stack(out.logits)


def test_cached_generation_matches_uncached_tokens_and_logits(asker, clips):
    from vqa2cli.pipeline.inputs import build_inputs
    from vqa2cli.pipeline.prefix_cache import continue_kwargs, prefill_prefix, prefix_length

    (_, clip), (_, other) = clips
    config, settings = asker.model.config, asker.settings
    full = asker._forward_kwargs(build_inputs(asker.tokenizer, config, settings, clip, question=QUESTIONS[0]))
    n = prefix_length(full["input_ids"][0].tolist(), config)
    assert 0 < n < full["input_ids"].shape[1] - 3  # the question and the chat tail stay outside the prefix
    prefix = prefill_prefix(asker.model, full, clip, n)
    wrong = prefill_prefix(
        asker.model,
        asker._forward_kwargs(build_inputs(asker.tokenizer, config, settings, other, question=QUESTIONS[0])),
        other,
        n,
    )
    for question in QUESTIONS[:3]:
        ids = build_inputs(asker.tokenizer, config, settings, clip, question=question).input_ids
        assert prefix.matches(clip, ids) and not prefix.matches(other, ids)
        want_ids, want_logits = _generate(
            asker,
            asker._forward_kwargs(build_inputs(asker.tokenizer, config, settings, clip, question=question)),
        )
        got_ids, got_logits = _generate(asker, continue_kwargs(prefix, ids, asker.loaded.device))
        assert got_ids == want_ids
        torch.testing.assert_close(got_logits, want_logits, atol=1e-4, rtol=1e-4)
        # control: the same comparison is sensitive to the cached video (another clip's prefix differs)
        _, other_logits = _generate(asker, continue_kwargs(wrong, ids, asker.loaded.device))
        assert (other_logits[0] - want_logits[0]).abs().max() > 1e-3
    assert prefix.cache.get_seq_length() == n  # the shared cache was copied, never extended


def test_asker_reuses_prefix_per_clip_and_answers_identically(asker, clips):
    (path, clip), (other_path, other) = clips
    records = [asker.answer(clip, path, q) for q in QUESTIONS] + [
        asker.answer(other, other_path, QUESTIONS[0])
    ]
    plain = [asker.answer(clip, path, q, reuse_prefix=False) for q in QUESTIONS]
    plain.append(asker.answer(other, other_path, QUESTIONS[0], reuse_prefix=False))
    assert [r.answer for r in records] == [r.answer for r in plain]
    assert [r.generation["new_tokens"] for r in records] == [r.generation["new_tokens"] for r in plain]
    assert [r.generation["prefix_reused"] for r in records] == [False, True, True, True, True, False]
    assert all(r.generation["cached_prefix_tokens"] > 0 for r in records)
    assert all(r.generation["cached_prefix_tokens"] == 0 for r in plain)
    first, again = records[0].timing, records[1].timing
    assert (
        first["vision_s"] > 0 and first["motion_s"] > 0 and first["pixels_s"] > 0 and first["prefill_s"] > 0
    )
    assert again["vision_s"] == again["motion_s"] == again["pixels_s"] == 0.0 and again["prefill_s"] > 0
    assert all(r.timing["generate_s"] > 0 for r in records if r.generation["new_tokens"] > 1)


def test_streamed_text_equals_cached_answer(asker, clips):
    path, clip = clips[0]
    asker.answer(clip, path, QUESTIONS[0])
    pieces: list[str] = []
    streamed = asker.answer(clip, path, QUESTIONS[2], on_text=pieces.append)
    assert streamed.generation["prefix_reused"] is True
    assert "".join(pieces).strip() == streamed.answer
