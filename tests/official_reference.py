"""The official loader (spec §3) as a yardstick: decord 0.6.0 + PIL bicubic, run in a subprocess.

decord's wheel bundles FFmpeg 4 and codec libraries whose unversioned symbols (libvpx) would shadow PyAV's if
both were loaded in one process, so it never is imported here. Used by tests/test_official_loader.py and
benchmarks/official_loader.py.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = """
import json, sys
import decord, numpy as np
from PIL import Image
path, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
n, fps = len(reader), reader.get_avg_fps()
frames = reader.get_batch(list(range(n))).asnumpy()
resized = np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.BICUBIC)) for f in frames])
np.save(out, resized)
print(json.dumps({"n": n, "fps": fps, "height": int(frames.shape[1]), "width": int(frames.shape[2])}))
"""


def have_decord() -> bool:
    return importlib.util.find_spec("decord") is not None


def official_inputs(
    path, size: int, workdir: Path, motion_step: int = 1
) -> tuple[int, float, list[int], np.ndarray, np.ndarray]:
    """What the official ``load_video`` + SigLIP resize give: n, fps, key indices, key frames, motion frames
    (``uint8`` [*, size, size, 3]): every frame decoded, keys ``range(0, n, round(fps))``, motion ``n // 4 * 4``.
    ``motion_step=8``: the motion frames of the INIT UGC evaluation script (``model_score_UGC.py``):
    ``frames[: n // 8 * 8][0::8]``, then cut to a multiple of 4."""
    out = Path(workdir) / "official.npy"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path), str(size), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    meta = json.loads(done.stdout.strip().splitlines()[-1])
    n, resized = meta["n"], np.load(out)
    keys = list(range(0, n, round(meta["fps"])))  # Python's round: banker's rounding, as the official code
    motion = resized[: n // motion_step * motion_step][0::motion_step]
    return n, meta["fps"], keys, resized[keys], motion[: len(motion) // 4 * 4]
