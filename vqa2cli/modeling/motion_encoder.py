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


def build_fast_pathway(stem_dim: int = 8, stage_depths: tuple[int, ...] = (3, 4, 6, 3)) -> nn.Sequential:
    """pytorchvideo stem + 4 res stages with the SlowFast-R50 fast-pathway settings (indices 0..4)."""
    import warnings

    with warnings.catch_warnings():  # fvcore/pytorchvideo still call the deprecated torch.jit.script at import
        warnings.simplefilter("ignore", FutureWarning)
        from pytorchvideo.models.resnet import create_bottleneck_block, create_res_stage
        from pytorchvideo.models.stem import create_res_basic_stem

    blocks: list[nn.Module] = [
        create_res_basic_stem(
            in_channels=3, out_channels=stem_dim,
            conv_kernel_size=(5, 7, 7), conv_stride=(1, 2, 2), conv_padding=(2, 3, 3),
            pool=nn.MaxPool3d, pool_kernel_size=(1, 3, 3), pool_stride=(1, 2, 2), pool_padding=(0, 1, 1),
            norm=nn.BatchNorm3d, activation=nn.ReLU,
        )
    ]
    dim_in = stem_dim
    for idx, depth in enumerate(stage_depths):
        dim_inner = stem_dim * 2**idx
        dim_out = 4 * stem_dim * 2**idx
        spatial = 1 if idx == 0 else 2
        blocks.append(
            create_res_stage(
                depth=depth, dim_in=dim_in, dim_inner=dim_inner, dim_out=dim_out,
                bottleneck=create_bottleneck_block,
                conv_a_kernel_size=(3, 1, 1), conv_a_stride=(1, 1, 1), conv_a_padding=(1, 0, 0),
                conv_b_kernel_size=(1, 3, 3), conv_b_stride=(1, spatial, spatial), conv_b_padding=(0, 1, 1),
                conv_b_num_groups=1, conv_b_dilation=(1, 1, 1),
                norm=nn.BatchNorm3d, activation=nn.ReLU,
            )
        )
        dim_in = dim_out
    return nn.Sequential(*blocks)


class Vqa2MotionEncoder(nn.Module):
    """Dense frames [B, T, 3, s, s] → motion tokens [B, T, motion_dim] (fast pathway + position table)."""

    def __init__(self, stem_dim: int, stage_depths: list[int], max_frames: int):
        super().__init__()
        self.fast = build_fast_pathway(stem_dim, tuple(stage_depths))
        self.motion_dim = stem_dim * 32
        self.max_frames = max_frames
        # Learned table, rows 0..T-1 added before the projector (official `slowfast.position_embedding`).
        self.pos_embed = nn.Embedding(max_frames, self.motion_dim)

    def forward(self, motion_pixel_values: torch.Tensor) -> torch.Tensor:
        if motion_pixel_values.dim() != 5:
            raise ValueError(f"motion_pixel_values must be [B, T, 3, s, s], got {tuple(motion_pixel_values.shape)}")
        n_frames = motion_pixel_values.shape[1]
        if n_frames > self.max_frames:
            raise ModelRuntimeError(
                f"{n_frames} motion frames exceed the {self.max_frames}-row motion position table",
                "subsample the dense frames (video.long_clip_policy = stride)",
            )
        x = motion_pixel_values.permute(0, 2, 1, 3, 4).to(self.pos_embed.weight.dtype)  # [B, 3, T, s, s]
        x = self.fast(x)  # [B, D, T, h, w]
        # Official: nn.AdaptiveAvgPool2d(1) on the 5-D tensor = mean over (h, w) → [B, D, T, 1, 1].
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(2).transpose(1, 2)  # [B, T, D]
        return x + self.pos_embed.weight[:n_frames].unsqueeze(0)


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
