"""The motion encoder's temporal chunks (modeling/motion_encoder.py): the fast pathway run over the dense
frames in chunks with a halo of its temporal receptive radius gives the unchunked tokens (≤ 1e-6), on the
tiny test model and on the real SlowFast-R50 fast pathway (random weights), from float or uint8 frames;
the level probabilities of a scored clip do not move; a halo one frame short is measurably wrong."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vqa2cli.modeling.motion_encoder import (
    Vqa2MotionEncoder,
    chunk_input_frames,
    chunk_spans,
    temporal_receptive_radius,
)
from vqa2cli.modeling.pixels import pixel_tensor
from vqa2cli.pipeline.inputs import MOTION_NORMS

NORM = MOTION_NORMS["kinetics"]


def encoder(stem_dim: int, depths: list[int], seed: int = 0) -> Vqa2MotionEncoder:
    torch.manual_seed(seed)
    enc = Vqa2MotionEncoder(stem_dim, depths, 2000).eval()
    for module in enc.modules():  # random BN statistics, so that BN is not the identity
        if isinstance(module, nn.BatchNorm3d):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0, 0.1)
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return enc


def run(enc: Vqa2MotionEncoder, frames, chunk: int, norm=None, halo: int | None = None) -> torch.Tensor:
    enc.chunk_frames = chunk  # instance attribute: the class default stays
    if halo is not None:
        enc.halo = halo
    with torch.no_grad():
        return enc(frames, norm)


def test_receptive_radius_of_the_r50_fast_pathway_matches_pytorchvideo_create_slowfast():
    """create_slowfast's fast pathway (model_depth 50): stem conv (5,7,7) → 2 frames each side; every
    bottleneck's conv_a (3,1,1) → 1 frame, 3+4+6+3 of them; stride 1 in time, no temporal pooling."""
    from pytorchvideo.models.slowfast import create_slowfast

    official = create_slowfast(model_depth=50, head=None)
    fast = nn.Sequential(*(block.multipathway_blocks[1] for block in official.blocks[:5]))
    assert temporal_receptive_radius(fast) == 18
    assert encoder(8, [3, 4, 6, 3]).halo == 18
    assert encoder(2, [1, 1, 1, 1]).halo == 6
    # the memory estimate's chunk (modeling/memory.py) uses the same radius
    assert (
        chunk_input_frames(10_000, [3, 4, 6, 3]) == 128 + 2 * 18
        and chunk_input_frames(50, [3, 4, 6, 3]) == 50
    )
    assert chunk_input_frames(10_000, [1, 1, 1, 1]) == 128 + 2 * 6


def test_receptive_radius_refuses_temporal_strides():
    net = nn.Sequential(nn.Conv3d(3, 4, (3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0)))
    with pytest.raises(ValueError, match="stride 2"):
        temporal_receptive_radius(net)
    with pytest.raises(ValueError, match="padding 0"):
        temporal_receptive_radius(nn.Sequential(nn.Conv3d(3, 4, (3, 1, 1))))


@pytest.mark.parametrize("n, most", [(300, 128), (300, 1), (7, 128), (129, 128), (2000, 128)])
def test_chunk_spans_tile_the_frames(n, most):
    spans = chunk_spans(n, most)
    assert [i for a, b in spans for i in range(a, b)] == list(range(n))
    assert max(b - a for a, b in spans) <= most and len(spans) == -(-n // most)


@pytest.mark.parametrize(
    "stem, depths, size, n",
    [(2, [1, 1, 1, 1], 64, 90), (8, [3, 4, 6, 3], 32, 100)],
    ids=["tiny", "slowfast_r50"],
)
@pytest.mark.parametrize("chunk", [1, 13, 40])
def test_chunked_tokens_equal_unchunked(stem, depths, size, n, chunk):
    enc = encoder(stem, depths)
    frames = torch.randint(
        0, 256, (1, n, size, size, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
    )
    pixels = pixel_tensor(frames[0], NORM, torch.float32, "cpu")
    whole = run(enc, pixels, n)  # one chunk: the unchunked pass
    assert (run(enc, pixels, chunk) - whole).abs().max().item() <= 1e-6
    assert (run(enc, frames, chunk, NORM) - whole).abs().max().item() <= 1e-6  # uint8 → float per chunk


@pytest.mark.parametrize(
    "stem, depths, short_by, moved",
    [(2, [1, 1, 1, 1], 1, 1e-6), (8, [3, 4, 6, 3], 18, 1e-3)],
    ids=["tiny", "slowfast_r50"],
)
def test_a_halo_short_of_the_receptive_radius_changes_the_tokens(stem, depths, short_by, moved):
    """The equality checks above can fail: with a shorter halo the frames next to a chunk border see zero
    padding. On the tiny model one frame short is already visible (> 1e-6). On R50 with random weights the
    outermost frame reaches the token only through 17 chained taps (stem + 16 conv_a), which random weights
    shrink below float precision (one short: 1e-7), so there the check is without any halo."""
    enc = encoder(stem, depths)
    frames = torch.randint(
        0, 256, (1, 60, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(2)
    )
    whole = run(enc, frames, 60, NORM)
    assert (run(enc, frames, 20, NORM, halo=enc.halo - short_by) - whole).abs().max().item() > moved


def test_uint8_frames_need_a_norm_and_the_layout():
    enc = encoder(2, [1, 1, 1, 1])
    with pytest.raises(ValueError, match="pixel_norm"):
        enc(torch.zeros(1, 4, 32, 32, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\[B, T, s, s, 3\] uint8"):
        enc(torch.zeros(1, 4, 3, 32, 32, dtype=torch.uint8), NORM)


def test_training_mode_runs_one_chunk():
    """BatchNorm in training mode normalises over all frames: chunks would change it, so none are made."""
    enc = encoder(2, [1, 1, 1, 1]).train()
    enc.chunk_frames = 4
    seen = []
    enc.fast.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[2]))
    enc(torch.randn(1, 12, 3, 32, 32))
    assert seen == [12]


def test_scored_level_probabilities_do_not_move(tiny_scorer, make_clip):
    """A whole clip through the tiny model: chunks of 5 frames vs one chunk, same probabilities (1e-6)."""
    clip = make_clip("chunks.mp4", seconds=4.0, fps=10, width=96, height=64)
    extractor = tiny_scorer.loaded.model.model.motion_extractor
    try:
        extractor.chunk_frames = 10_000
        whole = tiny_scorer.score(clip)
        extractor.chunk_frames = 5
        chunked = tiny_scorer.score(clip)
    finally:
        del extractor.chunk_frames
    assert whole.input.get("motion_frames", 40) > 5
    assert chunked.probs == pytest.approx(whole.probs, abs=1e-6)
    assert chunked.score == pytest.approx(whole.score, abs=1e-6)
