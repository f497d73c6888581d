"""Motion branch: SlowFast-R50 *fast pathway* (pytorchvideo blocks) → one token per dense frame (spec §2).

The official code runs pytorchvideo's full two-pathway ``slowfast_r50`` blocks 0-4 and keeps only the fast
output. Fusion there is fast→slow only (``FuseFastToSlow`` returns the fast tensor unchanged), so the fast
pathway alone reproduces it exactly; the slow pathway (fed the first quarter of the frames) and the fusion
convolutions are dropped at load time (``checkpoint_keys.DROPPED``). tests/test_modeling.py checks the
equality against pytorchvideo's ``create_slowfast`` on shared weights (spec §11 check b).

Fast pathway of SlowFast-R50 (alpha 4, beta 1/8), temporal stride 1 throughout:
stem Conv3d 3→8 (5,7,7)/(1,2,2) + BN + ReLU + MaxPool (1,3,3)/(1,2,2), then 4 bottleneck stages
(depths 3/4/6/3, widths 32/64/128/256, conv_a (3,1,1), spatial strides 1/2/2/2). At 384 px the output is
[B, 256, T, 12, 12]; the spatial mean gives [B, T, 256].
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ModelRuntimeError

STEM_KERNEL_T = 5  # fast-pathway stem conv temporal kernel (pytorchvideo create_slowfast, SlowFast-R50)
CONV_A_KERNEL_T = 3  # each fast-pathway bottleneck's conv_a temporal kernel
CHUNK_FRAMES = 128  # motion tokens computed per chunk (Vqa2MotionEncoder); 300 frames → 3 chunks of 100


def chunk_input_frames(n_frames: int, stage_depths) -> int:
    """Frames one chunk of the fast pathway sees at most: ``CHUNK_FRAMES`` + 2 × the receptive radius
    (``(STEM_KERNEL_T − 1)/2 + Σ depths·(CONV_A_KERNEL_T − 1)/2``), or ``n_frames`` when fewer. For the
    memory estimate (modeling/memory.py); tests check it against :func:`temporal_receptive_radius`."""
    radius = (STEM_KERNEL_T - 1) // 2 + sum(stage_depths) * (CONV_A_KERNEL_T - 1) // 2
    return min(n_frames, CHUNK_FRAMES + 2 * radius)


def build_fast_pathway(stem_dim: int = 8, stage_depths: tuple[int, ...] = (3, 4, 6, 3)) -> nn.Sequential:
    """pytorchvideo stem + 4 res stages with the SlowFast-R50 fast-pathway settings (indices 0..4)."""
    import warnings

    with (
        warnings.catch_warnings()
    ):  # fvcore/pytorchvideo still call the deprecated torch.jit.script at import
        warnings.simplefilter("ignore", FutureWarning)
        from pytorchvideo.models.resnet import create_bottleneck_block, create_res_stage
        from pytorchvideo.models.stem import create_res_basic_stem

    blocks: list[nn.Module] = [
        create_res_basic_stem(
            in_channels=3,
            out_channels=stem_dim,
            conv_kernel_size=(STEM_KERNEL_T, 7, 7),
            conv_stride=(1, 2, 2),
            conv_padding=((STEM_KERNEL_T - 1) // 2, 3, 3),
            pool=nn.MaxPool3d,
            pool_kernel_size=(1, 3, 3),
            pool_stride=(1, 2, 2),
            pool_padding=(0, 1, 1),
            norm=nn.BatchNorm3d,
            activation=nn.ReLU,
        )
    ]
    dim_in = stem_dim
    for idx, depth in enumerate(stage_depths):
        dim_inner = stem_dim * 2**idx
        dim_out = 4 * stem_dim * 2**idx
        spatial = 1 if idx == 0 else 2
        blocks.append(
            create_res_stage(
                depth=depth,
                dim_in=dim_in,
                dim_inner=dim_inner,
                dim_out=dim_out,
                bottleneck=create_bottleneck_block,
                conv_a_kernel_size=(CONV_A_KERNEL_T, 1, 1),
                conv_a_stride=(1, 1, 1),
                conv_a_padding=((CONV_A_KERNEL_T - 1) // 2, 0, 0),
                conv_b_kernel_size=(1, 3, 3),
                conv_b_stride=(1, spatial, spatial),
                conv_b_padding=(0, 1, 1),
                conv_b_num_groups=1,
                conv_b_dilation=(1, 1, 1),
                norm=nn.BatchNorm3d,
                activation=nn.ReLU,
            )
        )
        dim_in = dim_out
    return nn.Sequential(*blocks)


def temporal_receptive_radius(net: nn.Module) -> int:
    """Frames on each side that one output frame of ``net`` depends on (its temporal receptive radius).

    Sums ``dilation·(k_t − 1) / 2`` over every Conv3d / MaxPool3d / AvgPool3d, an upper bound on the longest
    path through the residual blocks (their shortcut convolutions are 1×1×1). For the SlowFast-R50 fast
    pathway (pytorchvideo ``create_slowfast``, fast pathway: stem conv (5,7,7) and stem pool (1,3,3), each
    bottleneck's conv_a (3,1,1), conv_b (1,3,3), conv_c 1×1×1, temporal stride 1 everywhere, no pooling
    between stages) it is 2 + (3 + 4 + 6 + 3)·1 = 18; for the tiny test model (depths 1/1/1/1) 6.
    Raises ValueError for a temporal stride ≠ 1 or a temporal padding that is not "same" (k − 1)·d / 2:
    then output frame t would not line up with input frame t and temporal chunking would be wrong.
    """
    radius = 0
    for name, module in net.named_modules():
        if not isinstance(module, (nn.Conv3d, nn.MaxPool3d, nn.AvgPool3d)):
            continue
        kernel, stride, padding = (_first(getattr(module, a)) for a in ("kernel_size", "stride", "padding"))
        dilation = _first(getattr(module, "dilation", 1))
        if stride != 1 or 2 * padding != dilation * (kernel - 1):
            raise ValueError(
                f"{name}: temporal kernel {kernel}, stride {stride}, padding {padding}: "
                "only stride-1 'same'-padded layers keep frame t at t"
            )
        radius += dilation * (kernel - 1) // 2
    return radius


def _first(value) -> int:
    """The temporal (first) entry of a Conv3d/Pool3d size argument (int or 3-tuple)."""
    return int(value[0] if isinstance(value, (tuple, list)) else value)


def chunk_spans(n_frames: int, max_frames: int) -> list[tuple[int, int]]:
    """[0, n_frames) cut into the fewest near-equal spans of at most ``max_frames`` frames, in order."""
    n_chunks = max(1, -(-n_frames // max(1, max_frames)))
    bounds = [round(i * n_frames / n_chunks) for i in range(n_chunks + 1)]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


class Vqa2MotionEncoder(nn.Module):
    """Dense frames → motion tokens [B, T, motion_dim] (fast pathway + position table).

    Input: float pixels [B, T, 3, s, s] (already normalised), or the decoder's uint8 frames [B, T, s, s, 3]
    with ``pixel_norm = (mean, std)`` (3 floats each); uint8 frames are converted with
    ``modeling.pixels.pixel_tensor`` one chunk at a time, so the window never exists as one float tensor.

    Memory: in eval mode the fast pathway runs over the frames in temporal chunks of at most
    ``chunk_frames`` output frames, each widened by ``halo`` = the pathway's temporal receptive radius
    (18 frames for SlowFast-R50) on both sides, clipped at the clip's ends. Every layer has temporal stride 1
    and "same" zero padding, so output frame t of a chunk is computed from exactly the frames it sees in the
    unchunked pass (the chunk's own zero padding only reaches the halo frames, which are dropped): tokens
    equal the unchunked ones up to float summation order (tests/test_motion_chunks.py: ≤ 1e-6). The peak is
    then one chunk's activations instead of the window's (tiny model, one 300-frame window at 384 px: peak
    RSS 1.83 → 1.32 GB, benchmarks/RESULTS.md "Long videos"). The cost is the halo frames computed twice.
    In training mode (BatchNorm with batch statistics over all frames) it runs as one chunk. Raises
    ValueError on a bad shape or a uint8 input without ``pixel_norm``, ModelRuntimeError past ``max_frames``.
    """

    chunk_frames = CHUNK_FRAMES  # output frames per chunk: 300 frames → 3 chunks of 100 (+ 2×18 halo)

    def __init__(self, stem_dim: int, stage_depths: list[int], max_frames: int):
        super().__init__()
        self.fast = build_fast_pathway(stem_dim, tuple(stage_depths))
        self.halo = temporal_receptive_radius(self.fast)
        self.motion_dim = stem_dim * 32
        self.max_frames = max_frames
        # Learned table, rows 0..T-1 added before the projector (official `slowfast.position_embedding`).
        self.pos_embed = nn.Embedding(max_frames, self.motion_dim)

    def forward(self, motion_pixel_values: torch.Tensor, pixel_norm=None) -> torch.Tensor:
        raw = motion_pixel_values.dtype == torch.uint8
        if motion_pixel_values.dim() != 5 or (motion_pixel_values.shape[-1 if raw else 2] != 3):
            layout = "[B, T, s, s, 3] uint8" if raw else "[B, T, 3, s, s]"
            raise ValueError(f"motion_pixel_values must be {layout}, got {tuple(motion_pixel_values.shape)}")
        if raw and pixel_norm is None:
            raise ValueError("uint8 motion_pixel_values need pixel_norm = (mean, std)")
        n_frames = motion_pixel_values.shape[1]
        if n_frames > self.max_frames:
            raise ModelRuntimeError(
                f"{n_frames} motion frames exceed the {self.max_frames}-row motion position table",
                "subsample the dense frames (video.long_clip_policy = stride)",
            )
        step = n_frames if self.training else self.chunk_frames
        tokens = [
            self._tokens(motion_pixel_values, pixel_norm, start, stop)
            for start, stop in chunk_spans(n_frames, step)
        ]
        x = tokens[0] if len(tokens) == 1 else torch.cat(tokens, dim=1)  # [B, T, D]
        return x + self.pos_embed.weight[:n_frames].unsqueeze(0)

    def _tokens(self, frames: torch.Tensor, pixel_norm, start: int, stop: int) -> torch.Tensor:
        """Tokens [B, stop − start, D] of frames [start, stop), computed from [start − halo, stop + halo)."""
        lo, hi = max(0, start - self.halo), min(frames.shape[1], stop + self.halo)
        dtype = self.pos_embed.weight.dtype
        if frames.dtype == torch.uint8:
            from .pixels import pixel_tensor

            x = torch.cat([pixel_tensor(clip, pixel_norm, dtype, frames.device) for clip in frames[:, lo:hi]])
        else:
            x = frames[:, lo:hi].to(dtype)
        x = self.fast(x.permute(0, 2, 1, 3, 4))[:, :, start - lo : stop - lo]  # [B, D, t, h, w]
        # Official: nn.AdaptiveAvgPool2d(1) on the 5-D tensor = mean over (h, w) → [B, D, t, 1, 1].
        return nn.functional.adaptive_avg_pool2d(x, 1).flatten(2).transpose(1, 2)


class Vqa2MotionProjector(nn.Module):
    """Linear motion_dim→H, exact GELU, Linear H→H (official ``slowfast_projector`` 0/2)."""

    def __init__(self, motion_dim: int, hidden_size: int):
        super().__init__()
        self.linear_1 = nn.Linear(motion_dim, hidden_size)
        self.act = nn.GELU()
        self.linear_2 = nn.Linear(hidden_size, hidden_size)

    def forward(self, motion_tokens: torch.Tensor) -> torch.Tensor:
        # Quirk (spec §2): the official scorer casts the projector input with `.half()`; the fp16 inference
        # model is all-fp16, so casting to the projector's own dtype reproduces it and stays right for bf16/fp32.
        x = motion_tokens.to(self.linear_1.weight.dtype)
        return self.linear_2(self.act(self.linear_1(x)))
