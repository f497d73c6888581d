"""Prompt texts against the spec's verbatim strings (../shared/spec/official-vqa2.md §4, §8)."""

import re
from pathlib import Path

import pytest

from vqa2cli.errors import UsageError
from vqa2cli.pipeline.prompts import build_prompt, chat, parse_stalling, stalling_text

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "official-vqa2.md"


def spec_text():
    if not SPEC.is_file():
        pytest.skip("spec not beside the checkout")
    return SPEC.read_text(encoding="utf-8")


def spec_quote(after: str) -> str:
    """The first backtick-quoted string following ``after`` in the spec, with \\n as newlines."""
    text = spec_text()
    start = text.index(after) + len(after)
    return re.search(r"`([^`]+)`", text[start:]).group(1).replace("\\n", "\n")


def test_ugc_init_prompt_is_verbatim():
    p = build_prompt("ugc_init", duration_s=3, n_keyframes=3, n_motion=24)
    assert p.user == spec_quote("INIT (contemporary with the upload")
    assert p.prefix == "The quality of the video is"
    assert p.n_images == 2


def test_assistant_prompt_is_verbatim_with_typos():
    p = build_prompt("assistant", duration_s=10.04, n_keyframes=10, n_motion=300, question="Is it sharp?")
    template = spec_quote("VQA-stage3`]:")
    expected = (
        template.replace("{dur:.1f}", "10.0")
        .replace("{K}", "10")
        .replace("{T}", "300")
        .replace("{Q}", "Is it sharp?")
    )
    assert p.user == expected and "the the entire video" in p.user


def test_streaming_prompt_opening_and_styles():
    p = build_prompt("streaming", duration_s=8, n_keyframes=8, n_motion=240, stalling=parse_stalling("none"))
    opening = spec_quote("- Opening:").replace("{dur}", "8").replace("{T}", "240")
    assert p.user.startswith(opening)
    assert p.user.endswith("how would you evaluate the quality of this video?")
    assert p.prefix == "The quality of this video is"
    seq = stalling_text(parse_stalling("0011100"))
    assert seq.endswith("shown as follows: 0011100")
    stats = stalling_text(parse_stalling("0011100110", "stats"))
    assert "is 5 frames, accounting for 50.000000 percent" in stats
    assert "number of stalling events of the video is 2" in stats
    assert "is 1 frames, accounting for 10.000000 percent of the total playback" in stats


def test_official_streaming_eval_has_one_marker():
    assert build_prompt("streaming_official_eval", duration_s=1, n_keyframes=1, n_motion=4).n_images == 1


def test_chatml_wrapper():
    p = build_prompt("ugc_head", duration_s=1, n_keyframes=1, n_motion=4)
    assert chat(p) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "<image><image><|im_end|>\n<|im_start|>assistant\n"
    )


def test_bad_stalling_and_missing_question():
    with pytest.raises(UsageError, match="0/1"):
        parse_stalling("01x1")
    with pytest.raises(UsageError, match="needs a question"):
        build_prompt("assistant", duration_s=1, n_keyframes=1, n_motion=4)
