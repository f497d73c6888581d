"""Vqa2ForConditionalGeneration on the tiny checkpoint: the official visual block, the motion branch, splicing."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from vqa2cli.config import Settings
from vqa2cli.errors import ModelRuntimeError
from vqa2cli.modeling.loading import load_model
from vqa2cli.video.sampling import visual_tokens


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return load_model(tiny_model_dir, Settings().replace(runtime={"dtype": "fp32", "quant": "none"})).model


def _pixels(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _prompt(cfg, k, t, copies=1):
    """text, keyframe block, text, motion block(s) separated by text, text; returns ids and block starts."""
    ids, starts = [5, 6, 7], {}
    starts["video"] = len(ids)
    ids += [cfg.video_token_id] * cfg.keyframe_block_length(k) + [8, 9]
    starts["motion"] = []
    for _ in range(copies):
        starts["motion"].append(len(ids))
        ids += [cfg.motion_token_id] * t + [10, 11]
    ids += [12, 13]
    return torch.tensor([ids]), starts


def _run(model, ids, keyframes, motion):
    with torch.no_grad():
        return model(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            pixel_values_videos=keyframes,
            motion_pixel_values=motion,
        )


def _capture_embeds(model, **kwargs):
    seen = {}

    def hook(_module, args, kw):
        seen["embeds"] = kw["inputs_embeds"].detach().clone()

    handle = model.model.language_model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        with torch.no_grad():
            model(**kwargs)
    finally:
        handle.remove()
    return seen["embeds"][0]


def _official_visual_block(model, frames):
    """Spec §2, written out: SigLIP last kept layer (no post-LN) → projector → bilinear 27→14 (align_corners
    False) → frames flattened frame-major → ONE image_newline."""
    vision = model.model.vision_tower  # transformers 5: SiglipVisionModel holds embeddings/encoder directly
    h = vision.embeddings(frames)
    for layer in vision.encoder.layers:
        h = layer(h, attention_mask=None)
        h = h[0] if isinstance(h, tuple) else h
    proj = model.model.multi_modal_projector(h)  # [K, 729, H]
    side = int(math.isqrt(proj.shape[1]))
    assert side == 27
    grid = proj.view(frames.shape[0], side, side, -1).permute(0, 3, 1, 2)
    pooled = torch.nn.functional.interpolate(
        grid, size=[math.ceil(side / 2)] * 2, mode="bilinear", align_corners=False
    )
    return torch.cat(
        [pooled.permute(0, 2, 3, 1).reshape(-1, proj.shape[-1]), model.model.image_newline[None]]
    )


def _official_motion_tokens(model, folder, frames):
    """The official two-pathway pytorchvideo SlowFast on the checkpoint's own weights: slow input = the first
    quarter of the frames, fast = all; keep the fast output, AdaptiveAvgPool2d(1), add position rows 0..T-1."""
    from tiny_checkpoint import official_slowfast

    official = {}
    for shard in folder.glob("*.safetensors"):
        official.update(load_file(str(shard)))
    prefix = "model.slowfast.feature_extraction."
    net = official_slowfast()
    state = {"blocks." + k[len(prefix) :]: v.float() for k, v in official.items() if k.startswith(prefix)}
    missing, _ = net.load_state_dict(state, strict=False)
    assert not [m for m in missing if m.split(".")[1] in "01234" and "num_batches" not in m]
    x = frames.permute(1, 0, 2, 3).unsqueeze(0)  # [T, 3, s, s] → [1, 3, T, s, s]
    pathways = [x[:, :, : round(x.shape[2] / 4)], x]
    for block in net.blocks[:5]:
        pathways = block(pathways)
    tokens = torch.nn.AdaptiveAvgPool2d(1)(pathways[1]).flatten(2).transpose(1, 2)[0]
    return tokens + official["model.slowfast.position_embedding.weight"].float()[: x.shape[2]]


def test_visual_block_equals_the_official_computation(model):
    frames = _pixels(1, 2, 3, 384, 384)
    with torch.no_grad():
        expected = _official_visual_block(model, frames[0])
        got = model.model.get_video_features(frames, return_dict=True).pooler_output[0]
    assert got.shape[0] == 2 * 196 + 1
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_fast_pathway_equals_pytorchvideo_two_pathway_slowfast(model, tiny_model_dir):
    """Spec §11 check b: fast-path-only == the official module's fast output, on the same weights."""
    frames = _pixels(1, 8, 3, 64, 64, seed=3)
    with torch.no_grad():
        expected = _official_motion_tokens(model, tiny_model_dir, frames[0])
        got = model.model.motion_extractor(frames)
    assert got.shape == (1, 8, model.config.motion_dim)
    torch.testing.assert_close(got[0], expected, rtol=1e-5, atol=1e-5)


def test_spliced_embeddings_equal_the_official_concatenation(model, tiny_model_dir):
    """Spec §11 check a: the official splice cuts the ids at each <image> (-200) and concatenates the text
    embeddings with [visual block, motion block] in order; ours scatters into placeholder ids."""
    cfg = model.config
    k, t = 2, 8
    keyframes, motion = _pixels(1, k, 3, 384, 384, seed=5), _pixels(1, t, 3, 48, 48, seed=6)
    pieces = [[5, 6, 7], [8, 9, 10], [11, 12]]
    embed = model.model.get_input_embeddings()
    with torch.no_grad():
        features = [
            _official_visual_block(model, keyframes[0]),
            model.model.motion_projector(_official_motion_tokens(model, tiny_model_dir, motion[0])),
        ]
        official = torch.cat(
            [
                embed(torch.tensor(pieces[0])),
                features[0],
                embed(torch.tensor(pieces[1])),
                features[1],
                embed(torch.tensor(pieces[2])),
            ]
        )
    ids = torch.tensor(
        [
            pieces[0]
            + [cfg.video_token_id] * cfg.keyframe_block_length(k)
            + pieces[1]
            + [cfg.motion_token_id] * t
            + pieces[2]
        ]
    )
    ours = _capture_embeds(model, input_ids=ids, pixel_values_videos=keyframes, motion_pixel_values=motion)
    torch.testing.assert_close(ours, official, rtol=1e-5, atol=1e-5)


def test_r50_fast_pathway_shapes_and_official_key_names():
    """At the real R50 widths the fast path maps 384 px to [1, 256, T, 12, 12], and its keys are the official
    ``multipathway_blocks.1`` keys of pytorchvideo's slowfast_r50 (stride 1 in time)."""
    from pytorchvideo.models.hub.slowfast import slowfast_r50

    from vqa2cli.modeling.motion_encoder import build_fast_pathway

    fast = build_fast_pathway(8, (3, 4, 6, 3)).eval()
    official = slowfast_r50(pretrained=False).state_dict()
    parts = [k.split(".", 4) for k in official]  # blocks.{s}.multipathway_blocks.{0 slow,1 fast}.{rest}
    theirs = {
        f"{p[1]}.{p[4]}": official[".".join(p)].shape
        for p in parts
        if p[1] in {"0", "1", "2", "3", "4"} and p[2] == "multipathway_blocks" and p[3] == "1"
    }
    ours = {k: v.shape for k, v in fast.state_dict().items()}
    assert ours == theirs
    assert sum(p.numel() for p in fast.parameters()) == pytest.approx(0.51e6, rel=0.05)
    with torch.no_grad():
        out = fast(torch.zeros(1, 3, 4, 384, 384))
    assert tuple(out.shape) == (1, 256, 4, 12, 12)


def test_motion_tokens_land_at_the_motion_positions(model):
    cfg = model.config
    ids, starts = _prompt(cfg, 1, 8)
    keyframes = _pixels(1, 1, 3, 384, 384)
    a = _run(model, ids, keyframes, _pixels(1, 8, 3, 64, 64, seed=1)).logits
    b = _run(model, ids, keyframes, _pixels(1, 8, 3, 64, 64, seed=2)).logits
    m0 = starts["motion"][0]
    torch.testing.assert_close(a[:, :m0], b[:, :m0], rtol=0, atol=0)  # causal: nothing before the block moves
    assert (a[:, m0:] - b[:, m0:]).abs().amax() > 1e-4


def test_keyframe_tokens_land_at_the_video_positions(model):
    ids, starts = _prompt(model.config, 1, 4)
    motion = _pixels(1, 4, 3, 64, 64)
    a = _run(model, ids, _pixels(1, 1, 3, 384, 384, seed=1), motion).logits
    b = _run(model, ids, _pixels(1, 1, 3, 384, 384, seed=2), motion).logits
    v0 = starts["video"]
    torch.testing.assert_close(a[:, :v0], b[:, :v0], rtol=0, atol=0)
    assert (a[:, v0:] - b[:, v0:]).abs().amax() > 1e-4


def test_duplicated_layout_fills_every_motion_block_with_the_same_tokens(model):
    cfg = model.config
    t = 8
    ids, starts = _prompt(cfg, 1, t, copies=2)
    motion = _pixels(1, t, 3, 64, 64, seed=4)
    embeds = _capture_embeds(
        model, input_ids=ids, pixel_values_videos=_pixels(1, 1, 3, 384, 384), motion_pixel_values=motion
    )
    with torch.no_grad():
        features = model.get_motion_features(motion)[0]
    first, second = (embeds[s : s + t] for s in starts["motion"])
    torch.testing.assert_close(first, features)
    torch.testing.assert_close(second, features)
    text = model.model.get_input_embeddings()(ids)[0]
    torch.testing.assert_close(embeds[: starts["video"]], text[: starts["video"]])


@pytest.mark.parametrize("seconds", [1, 3, 10])
def test_block_lengths_for_1_3_10_second_clips(model, seconds):
    """30 fps clip: 1 fps keyframes (K = seconds), dense frames all of them cut to a multiple of 4 (spec §3)."""
    cfg = model.config
    n_frames = 30 * seconds
    k, t = len(range(0, n_frames, 30)), n_frames // 4 * 4
    ids, starts = _prompt(cfg, k, t)
    assert int((ids == cfg.video_token_id).sum()) == k * 196 + 1
    assert int((ids == cfg.motion_token_id).sum()) == t
    assert visual_tokens(k, t, cfg.tokens_per_keyframe, 1) == k * 196 + 1 + t  # what the budget counts
    assert visual_tokens(k, t, cfg.tokens_per_keyframe, 2) == k * 196 + 1 + 2 * t
    out = _run(model, ids, _pixels(1, k, 3, 384, 384), _pixels(1, t, 3, 32, 32))
    assert out.logits.shape == (1, ids.shape[1], cfg.text_config.vocab_size)
    assert out.motion_hidden_states.shape == (1, t, cfg.text_config.hidden_size)
    assert torch.isfinite(out.logits).all()


def test_placeholder_count_mismatches_raise(model):
    cfg = model.config
    ids, _ = _prompt(cfg, 1, 8)
    with pytest.raises(ValueError, match="not a multiple of the 12 motion frames"):
        _run(model, ids, _pixels(1, 1, 3, 384, 384), _pixels(1, 12, 3, 32, 32))
    with pytest.raises(ValueError, match="Video features and video tokens do not match"):
        _run(model, ids, _pixels(1, 2, 3, 384, 384), _pixels(1, 8, 3, 32, 32))


def test_more_frames_than_the_position_table_is_a_clear_error(model):
    encoder = model.model.motion_extractor
    with pytest.raises(ModelRuntimeError, match="exceed the 2000-row motion position table"):
        encoder(torch.zeros(1, encoder.max_frames + 4, 3, 1, 1))


def test_generate_uses_pixels_at_prefill_only(model):
    cfg = model.config
    ids, _ = _prompt(cfg, 1, 4)
    kwargs = dict(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        pixel_values_videos=_pixels(1, 1, 3, 384, 384),
        motion_pixel_values=_pixels(1, 4, 3, 32, 32),
    )
    with torch.no_grad():
        first = model(**kwargs).logits[0, -1].argmax()
        out = model.generate(**kwargs, max_new_tokens=3, do_sample=False)
    assert out.shape == (1, ids.shape[1] + 3) and out[0, ids.shape[1]] == first
    later = model.prepare_inputs_for_generation(
        out,
        motion_pixel_values=kwargs["motion_pixel_values"],
        pixel_values_videos=kwargs["pixel_values_videos"],
        is_first_iteration=False,
        use_cache=True,
    )
    assert "motion_pixel_values" not in later and "pixel_values_videos" not in later
    prefill = model.prepare_inputs_for_generation(
        ids, motion_pixel_values=kwargs["motion_pixel_values"], is_first_iteration=True, use_cache=True
    )
    assert prefill["motion_pixel_values"] is kwargs["motion_pixel_values"]


def test_image_inputs_are_refused_not_ignored(model):
    ids, _ = _prompt(model.config, 1, 4)
    with pytest.raises(ValueError, match="pixel_values is not supported"):
        with torch.no_grad():
            model(input_ids=ids, pixel_values=torch.zeros(1, 3, 384, 384))


def test_full_size_config_matches_the_published_parameter_count():
    """Spec §1: 8,044.6 M parameters without the SlowFast backbone; the fast pathway adds 0.51 M (meta device)."""
    from vqa2cli.modeling.configuration_vqa2 import config_from_official
    from vqa2cli.modeling.modeling_vqa2 import Vqa2ForConditionalGeneration

    official = {
        "model_type": "llava_qwen",
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "vocab_size": 152064,
        "rope_theta": 1e6,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False,
        "image_token_index": 151646,
    }
    with torch.device("meta"):
        big = Vqa2ForConditionalGeneration(config_from_official(official))
    total = sum(p.numel() for p in big.parameters())
    fast = sum(p.numel() for p in big.model.motion_extractor.fast.parameters())
    assert round((total - fast) / 1e6, 1) == 8044.6 and round(fast / 1e6, 2) == 0.51
    cfg = big.config
    assert (cfg.video_token_id, cfg.motion_token_id, cfg.tokens_per_keyframe, cfg.motion_dim) == (
        151647,
        151648,
        196,
        256,
    )
    assert cfg.vision_config.num_hidden_layers == 26 and cfg.vision_config.num_attention_heads == 16


def test_generate_never_emits_the_rows_the_official_model_resizes_away(tiny_model_dir):
    """The official builder resizes the vocab to len(tokenizer); ids from <video> up are never generated."""
    fresh = load_model(tiny_model_dir, Settings().replace(runtime={"dtype": "fp32", "quant": "none"})).model
    cfg = fresh.config
    banned = cfg.text_config.vocab_size - 1
    ids, _ = _prompt(cfg, 1, 4)
    kwargs = dict(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        pixel_values_videos=_pixels(1, 1, 3, 384, 384),
        motion_pixel_values=_pixels(1, 4, 3, 32, 32),
    )
    with torch.no_grad():  # point a padding row along the last hidden state so that it wins the argmax
        last = fresh(**kwargs, output_hidden_states=True).hidden_states[-1][0, -1]
        fresh.lm_head.weight[banned] = last / last.norm() * fresh.lm_head.weight.norm(dim=1).amax() * 50
    with torch.no_grad():
        assert fresh(**kwargs).logits[0, -1].argmax() == banned
        out = fresh.generate(**kwargs, max_new_tokens=4, do_sample=False)
    assert int(out[0, ids.shape[1] :].max()) < cfg.video_token_id
