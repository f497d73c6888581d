"""`vqa2 train` on the CPU with the tiny fixture model: every stage runs, frozen parameters stay bit-identical,
loss falls when over-fitting, runs resume, and the output folder loads for scoring and asking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vqa2cli.config import Settings
from vqa2cli.errors import ConfigError, DataError, Vqa2Error
from vqa2cli.training.stages import resolve_train_config

UGC_USER = (
    "The key frames of this video are:\n<image>. And the motion feature of the video is\n<image>. "
    "How would you rate the quality of this video?"
)


def _instruction(path, user, answer):
    return {
        "image": str(path),
        "frames per sec": 8,
        "conversations": [{"from": "human", "value": user}, {"from": "gpt", "value": answer}],
    }


@pytest.fixture(scope="module")
def data(make_clip, tmp_path_factory) -> dict[str, Path]:
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("train-data")
    clips = [
        make_clip("tr-a", seconds=1, fps=8),
        make_clip("tr-b", seconds=1, fps=8, pattern="static"),
        make_clip("tr-c", seconds=1.5, fps=8, width=48, height=64),
    ]
    image = root / "pic.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(image)
    (root / "mos.csv").write_text(
        "path,mos\n" + "".join(f"{c},{m}\n" for c, m in zip(clips, (1.5, 3.2, 4.6)))
    )
    files = {
        "stage1-spatial": [  # the second record carries a motion block: frozen BatchNorm must not drift
            {
                k: v
                for k, v in _instruction(image, prompt, "The image is noisy.").items()
                if k != "frames per sec"
            }
            for prompt in ("<image>\nWhat distortions does this image have?", UGC_USER)
        ],
        "stage1-motion": [_instruction(c, UGC_USER, "The camera shakes.") for c in clips[:2]],
        "stage2-streaming": [
            _instruction(
                c,
                "A stream:\n<image>and its motion\n <image> How is it?",
                "The quality of this video is fair.",
            )
            for c in clips[:2]
        ],
        "stage3-assistant": [
            _instruction(
                clips[0],
                "Frames:\n <image>. Motion:\n <image>. Is it blurry? ",
                "Yes, the video is slightly blurry.",
            )
        ],
    }
    out = {"stage2-ugc": root / "mos.csv", "clips": clips}
    for stage, records in files.items():
        out[stage] = root / f"{stage}.json"
        out[stage].write_text(json.dumps(records))
    return out


def _config(stage, data_file, output, **over):
    base = dict(
        data=str(data_file),
        output_dir=str(output),
        engine="none",
        precision="fp32",
        dataloader_workers=0,
        warmup_ratio=0.0,
        logging_steps=1,
        max_steps=2,
        save_steps=100,
    )
    return resolve_train_config(stage, **{**base, **over})


def _train(stage, data_file, output, model, logs=None, **over):
    from vqa2cli.training.run import run_training

    sink = logs.append if logs is not None else (lambda _: None)
    return run_training(_config(stage, data_file, output, **over), str(model), log=sink)


def _load(folder):
    from vqa2cli.modeling.loading import load_model

    return load_model(Path(folder), Settings().replace(runtime={"device": "cpu", "dtype": "fp32"}))


TRAINABLE = {
    "stage1-spatial": {"vision_tower", "projector"},
    "stage1-motion": {"motion_encoder", "motion_projector"},
    "stage2-ugc": {
        "vision_tower",
        "projector",
        "image_newline",
        "motion_encoder",
        "motion_projector",
        "language_model",
        "lm_head",
    },
}
TRAINABLE["stage2-streaming"] = TRAINABLE["stage3-assistant"] = TRAINABLE["stage2-ugc"]


@pytest.mark.parametrize("stage", sorted(TRAINABLE))
def test_stage_trains_only_its_modules(stage, data, tiny_model_dir, tmp_path):
    from vqa2cli.training.trainer import group_of

    out = _train(stage, data[stage], tmp_path / "out", tiny_model_dir)
    before, after = _load(tiny_model_dir).model, _load(out).model
    changed: dict[str, int] = {}
    after_state = after.state_dict()
    for name, tensor in before.state_dict().items():
        group = (
            group_of(name)
            if not name.endswith(("running_mean", "running_var", "num_batches_tracked"))
            else group_of(name.rsplit(".", 1)[0] + ".weight")
        )
        same = bool((tensor == after_state[name]).all())
        if group not in TRAINABLE[stage]:
            assert same, f"{stage}: frozen {name} changed"
        elif not same:
            changed[group] = changed.get(group, 0) + 1
    assert set(changed) == TRAINABLE[stage], f"{stage}: trainable groups that changed: {sorted(changed)}"


@pytest.mark.e2e  # a long training run
def test_loss_falls_when_overfitting_one_batch(data, tiny_model_dir, tmp_path):
    out = _train(
        "stage3-assistant",
        data["stage3-assistant"],
        tmp_path / "out",
        tiny_model_dir,
        max_steps=12,
        learning_rate=5e-3,
        vision_tower_lr=5e-3,
        lr_scheduler="constant",
    )
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    losses = [h["loss"] for h in history if "loss" in h]
    assert len(losses) == 12
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.e2e  # a long training run
def test_run_resumes_from_the_last_checkpoint(data, tiny_model_dir, tmp_path):
    first: list[str] = []
    out = _train("stage2-ugc", data["stage2-ugc"], tmp_path / "out", tiny_model_dir, first, save_steps=1)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    for ckpt in out.glob("checkpoint-*"):  # every checkpoint is self-describing
        saved = resolve_train_config("stage2-ugc", ckpt / "vqa2-train.yaml")
        assert saved.max_steps == 2 and saved.data == str(data["stage2-ugc"])
        assert (ckpt / "vqa2-card.toml").is_file()
    with pytest.raises(ConfigError, match="already holds checkpoint-2"):
        _train("stage2-ugc", data["stage2-ugc"], out, tiny_model_dir, save_steps=1)
    second: list[str] = []
    from vqa2cli.training.run import run_training

    run_training(
        _config("stage2-ugc", data["stage2-ugc"], out, max_steps=4, save_steps=1),
        str(tiny_model_dir),
        resume=True,
        log=second.append,
    )
    steps = [line.split("/")[0] for line in second if line.startswith("step ") and "loss" in line]
    assert steps[:2] == ["step 3", "step 4"], second  # steps 1-2 were not run again
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 4
    with pytest.raises(ConfigError, match="no checkpoint-N folder"):
        run_training(
            _config("stage2-ugc", data["stage2-ugc"], tmp_path / "empty"), str(tiny_model_dir), resume=True
        )


def test_output_folder_loads_for_score_and_ask(data, tiny_model_dir, tmp_path):
    from vqa2cli.cli.options import resolve_settings
    from vqa2cli.pipeline.asking import Asker
    from vqa2cli.pipeline.run import Scorer

    scorer_dir = _train("stage2-ugc", data["stage2-ugc"], tmp_path / "ugc", tiny_model_dir, max_steps=1)
    settings, ref = resolve_settings("score", str(scorer_dir), None, runtime__device="cpu")
    assert settings.model.name == "ugc" and settings.model.prompt == "ugc_init"
    record = Scorer.load(settings, ref).score(str(data["clips"][0]))
    assert record.ok and 0.0 <= record.score <= 1.0 and record.model.name == "ugc"

    assistant_dir = _train(
        "stage3-assistant", data["stage3-assistant"], tmp_path / "asst", scorer_dir, max_steps=1
    )
    settings, ref = resolve_settings(
        "ask", str(assistant_dir), None, runtime__device="cpu", generation__max_new_tokens=3
    )
    assert ref.card.task == "ask" and settings.model.prompt == "assistant"
    from vqa2cli.video.decode import decode_clip

    asker = Asker.load(settings, ref)
    answer = asker.answer(
        decode_clip(str(data["clips"][0]), settings.video), data["clips"][0], "Is it sharp?"
    )
    assert answer.ok and isinstance(answer.answer, str)


def test_wrong_media_kind_and_unknown_model(data, tiny_model_dir, tmp_path):
    with pytest.raises(DataError, match="record 0: .* is an image, but this stage trains on videos"):
        _train("stage1-motion", data["stage1-spatial"], tmp_path / "o", tiny_model_dir)
    with pytest.raises(ConfigError, match="no default starting model"):
        from vqa2cli.training.run import run_training

        run_training(_config("stage2-ugc", data["stage2-ugc"], tmp_path / "o"), None)
    with pytest.raises(ConfigError, match="bf16 training needs a GPU"):
        _train("stage2-ugc", data["stage2-ugc"], tmp_path / "o", tiny_model_dir, precision="bf16")
    with pytest.raises(ConfigError, match="needs CUDA GPUs"):
        _train("stage2-ugc", data["stage2-ugc"], tmp_path / "o", tiny_model_dir, engine="zero3")


# --- the command line ------------------------------------------------------------------------------
def _invoke(args):
    import typer
    from typer.testing import CliRunner

    from vqa2cli.cli import train as train_cmd

    app = typer.Typer()
    app.callback()(lambda: None)
    train_cmd.register(app)
    result = CliRunner().invoke(app, args)
    code = result.exception.exit_code if isinstance(result.exception, Vqa2Error) else result.exit_code
    message = result.exception.one_line() if isinstance(result.exception, Vqa2Error) else ""
    return code, result.stdout, result.stderr + message


def test_cli_validate_data_and_train(data, tiny_model_dir, tmp_path):
    code, out, _ = _invoke(
        [
            "train",
            "--stage",
            "stage2-ugc",
            "--data",
            str(data["stage2-ugc"]),
            "--validate-data",
            "--format",
            "json",
        ]
    )
    report = json.loads(out)
    assert code == 0 and report["records"] == 3 and report["answers"] == {"low": 1, "fair": 1, "high": 1}

    bad = tmp_path / "bad.csv"
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    bad.write_text(f"path,mos\n{data['clips'][0]},1\n{garbage},2\n{data['clips'][1]},3\n")
    code, out, err = _invoke(["train", "--stage", "stage2-ugc", "--data", str(bad), "--validate-data"])
    assert code == 2 and "record 1" in err and "garbage.mp4" in err and "problems  1" in out
    bad.write_text(f"path,mos\n{data['clips'][0]},1\n{tmp_path / 'gone.mp4'},2\n")
    code, _, err = _invoke(["train", "--stage", "stage2-ugc", "--data", str(bad), "--validate-data"])
    assert code == 2 and "line 3: media file not found" in err

    code, out, err = _invoke(
        [
            "train",
            "--stage",
            "stage2-ugc",
            "--data",
            str(data["stage2-ugc"]),
            "--model",
            str(tiny_model_dir),
            "--output",
            str(tmp_path / "run"),
            "--engine",
            "none",
            "--precision",
            "fp32",
            "--max-steps",
            "1",
            "--workers",
            "0",
            "--mos-range",
            "1",
            "5",
            "--quiet",
        ]
    )
    assert code == 0, err
    assert out.strip() == str(tmp_path / "run")
    saved = resolve_train_config("stage2-ugc", tmp_path / "run" / "vqa2-train.yaml")
    assert saved.mos_range == (1.0, 5.0) and saved.engine == "none" and not saved.unmask_newlines


@pytest.mark.e2e
def test_two_process_ddp_launch_with_torchrun(data, tiny_model_dir, tmp_path):
    """A real multi-process launch (gloo on CPU): both ranks train, rank 0 alone writes and reports."""
    import subprocess
    import sys

    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
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
        "ddp",
        "--precision",
        "fp32",
        "--max-steps",
        "2",
        "--workers",
        "0",
        "--save-steps",
        "1",
        "--logging-steps",
        "1",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == [str(out)]
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and sorted(p.name for p in out.glob("checkpoint-*")) == [
        "checkpoint-1",
        "checkpoint-2",
    ]
    assert _load(out).model is not None


def test_labels_supervise_the_assistant_turn_only(data, tiny_model_dir):
    from vqa2cli.training.collate import TrainCollator
    from vqa2cli.training.datasets import read_training_data
    from vqa2cli.training.run import base_settings

    cfg = _config("stage2-ugc", data["stage2-ugc"], "unused")
    settings, _ = base_settings(str(tiny_model_dir), cfg)
    loaded = _load(tiny_model_dir)
    sample = read_training_data(data["stage2-ugc"])[1]  # MOS 3.2 of 1.5..4.6 -> 54.8 -> fair
    tok = loaded.tokenizer
    plain = TrainCollator(tok, loaded.model.config, settings, "mos.csv")([sample])
    ids, labels = plain["input_ids"][0].tolist(), plain["labels"][0].tolist()
    supervised = [t for t, lab in zip(ids, labels) if lab != -100]
    assert tok.decode(supervised) == "<|im_start|>assistant\nThe quality of the video is fair.<|im_end|>\n"
    assert supervised == ids[len(ids) - len(supervised) :]  # one block at the end: the assistant turn

    quirk = TrainCollator(tok, loaded.model.config, settings, "mos.csv", unmask_newlines=True)([sample])
    extra = [t for t, a, b in zip(ids, labels, quirk["labels"][0].tolist()) if a == -100 and b != -100]
    specials = {tok.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|im_end|>")}
    assert extra and set(extra) <= specials | set(tok("\n", add_special_tokens=False)["input_ids"])
    assert plain["pixel_values_videos"].shape[:2] == (1, 1) and plain["motion_pixel_values"].shape[1] == 8


def test_fsdp_wraps_layer_classes_the_model_has(tiny_model_dir):
    from vqa2cli.training.stages import engine_file

    wrap = json.loads(engine_file("fsdp").read_text())["transformer_layer_cls_to_wrap"]
    present = {type(m).__name__ for m in _load(tiny_model_dir).model.modules()}
    assert set(wrap) <= present, sorted(present)


@pytest.mark.parametrize("stage", ["stage2-ugc", "stage1-motion"])
def test_optimizer_groups_give_the_vision_tower_its_own_rate(stage, data, tiny_model_dir, tmp_path):
    from vqa2cli.training.trainer import build_trainer, group_of, training_arguments

    cfg = _config(stage, data[stage], tmp_path / "o")
    loaded = _load(tiny_model_dir)
    trainer, _ = build_trainer(cfg, loaded, [], None, training_arguments(cfg, str(tmp_path / "o")))
    optimizer = trainer.create_optimizer()
    names = {id(p): n for n, p in loaded.model.named_parameters()}
    seen = []
    for group in optimizer.param_groups:
        groups = {group_of(names[id(p)]) for p in group["params"]}
        expected = 2e-6 if groups == {"vision_tower"} else 1e-5
        assert group["lr"] == expected and group["weight_decay"] == 0.0, (groups, group["lr"])
        assert groups == {"vision_tower"} or "vision_tower" not in groups
        seen += [names[id(p)] for p in group["params"]]
    trainable = [n for n, p in loaded.model.named_parameters() if p.requires_grad]
    assert sorted(seen) == sorted(trainable) and len(seen) == len(set(seen))
    assert {group_of(n) for n in seen} == TRAINABLE[stage]


@pytest.mark.parametrize("method", ["pil", "sws"])
def test_training_decodes_with_the_configured_resize(method, data, tiny_model_dir, monkeypatch):
    """``video.resize`` reaches training's decode (it used to fall back to the default ``torch``)."""
    import torch

    import vqa2cli.video.decode as decode
    from vqa2cli.pipeline.inputs import KEYFRAME_NORM, pixel_tensor
    from vqa2cli.training.collate import TrainCollator
    from vqa2cli.training.datasets import read_training_data
    from vqa2cli.training.run import base_settings

    settings, _ = base_settings(str(tiny_model_dir), _config("stage2-ugc", data["stage2-ugc"], "unused"))
    settings = settings.replace(video={"resize": method})
    seen = []
    real = decode.decode_clip
    monkeypatch.setattr(decode, "decode_clip", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    loaded = _load(tiny_model_dir)
    sample = read_training_data(data["stage2-ugc"])[0]
    batch = TrainCollator(loaded.tokenizer, loaded.model.config, settings, "mos.csv")([sample])
    assert [clip.resize for clip in seen] == [method]
    expected = pixel_tensor(torch.from_numpy(seen[0].keyframes), KEYFRAME_NORM, torch.float32, "cpu")
    assert torch.equal(batch["pixel_values_videos"], expected)
