"""The sharding engines on a real GPU (skipped without CUDA): one-process torchrun launches of ZeRO-3 and FSDP
with bf16 on the tiny model; the output folder must load and score on the GPU."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from test_train import data  # noqa: F401  (module-scoped fixture: clips + data files)

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("engine", ["fsdp", "zero3"])
def test_sharded_engine_trains_and_the_output_scores(engine, data, tiny_model_dir, tmp_path):  # noqa: F811
    if engine == "zero3":
        pytest.importorskip("deepspeed")
    out = tmp_path / engine
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "1",
        "-m",
        "vqa2cli",
        "train",
        "--stage",
        "stage2-ugc",
        "--data",
        str(data["stage2-ugc"]),
        "--model",
        str(tiny_model_dir),
        "--output",
        str(out),
        "--engine",
        engine,
        "--precision",
        "bf16",
        "--max-steps",
        "2",
        "--workers",
        "0",
        "--save-steps",
        "1",
        "--logging-steps",
        "1",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 2

    from vqa2cli.cli.options import resolve_settings
    from vqa2cli.pipeline.run import Scorer

    settings, ref = resolve_settings("score", str(out), None, runtime__device="cuda")
    record = Scorer.load(settings, ref).score(str(data["clips"][0]))
    assert record.ok and 0.0 <= record.score <= 1.0
