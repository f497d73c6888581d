"""Training/eval data readers, MOS → levels, and the layered stage configuration (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vqa2cli.errors import ConfigError, DataError
from vqa2cli.training import datasets, labels, stages

UGC_USER = (
    "The key frames of this video are:\n<image>. And the motion feature of the video is\n<image>. Rate it."
)


@pytest.fixture
def media(tmp_path) -> Path:
    for name in ("a.mp4", "b.mp4", "c.mp4", "d.mkv", "e.mp4", "pic.png"):
        (tmp_path / name).write_bytes(b"x")  # readers only check existence; decoding is the collator's job
    return tmp_path


def _record(path, answer="The quality of this video is poor.", user=UGC_USER, **extra):
    return {
        "image": path,
        "frames per sec": 30,
        "conversations": [{"from": "human", "value": user}, {"from": "gpt", "value": answer}],
        **extra,
    }


def _write_json(folder: Path, name: str, data) -> Path:
    path = folder / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_official_instruction_json(media):
    data = [
        _record("a.mp4", gt_score="3.25", id="x1"),
        {k: v for k, v in _record("pic.png").items() if k != "frames per sec"},
    ]
    samples = datasets.read_instruction_json(_write_json(media, "train.json", data))
    assert [s.kind for s in samples] == ["video", "image"]
    assert samples[0].media == media / "a.mp4"
    assert samples[0].user == UGC_USER and samples[0].answer == "The quality of this video is poor."
    assert samples[0].gt_score == 3.25 and samples[0].id == "x1"
    assert samples[1].gt_score is None


def test_media_root_overrides_the_data_folder(media, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("data")
    path = _write_json(elsewhere, "train.json", [_record("b.mp4")])
    with pytest.raises(DataError, match="record 0: media file not found"):
        datasets.read_instruction_json(path)
    assert datasets.read_instruction_json(path, media_root=media)[0].media == media / "b.mp4"


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"frames per sec": 1, "conversations": []}, "missing key 'image'"),
        (_record("nope.mp4"), "media file not found"),
        (_record("a.mp4", user="no markers here"), "found 0"),
        (_record("a.mp4", answer=""), "non-empty text"),
        (
            {
                **_record("a.mp4"),
                "conversations": [{"from": "gpt", "value": "x"}, {"from": "human", "value": "y"}],
            },
            "turns must come from",
        ),
        (_record("a.mp4", gt_score="high"), "'gt_score' must be a number"),
        ("just a string", "must be an object"),
    ],
)
def test_malformed_instruction_records_name_their_index(media, bad, words):
    path = _write_json(media, "train.json", [_record("a.mp4"), bad])
    with pytest.raises(DataError, match=rf"train.json: record 1: .*{words}"):
        datasets.read_instruction_json(path)


def test_not_json_and_empty_list(media):
    (media / "broken.json").write_text("[{", encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON"):
        datasets.read_instruction_json(media / "broken.json")
    with pytest.raises(DataError, match="non-empty JSON list"):
        datasets.read_instruction_json(_write_json(media, "empty.json", []))


def test_label_json_both_official_spellings(media):
    data = [
        {"img_path": "a.mp4", "mos": 3.1},
        {"video_path": "b.mp4", "gt_score": "2.5"},
        {"img_path": "d", "mos": 1.0},
    ]  # the old YT-UGC file omits extensions
    recs = datasets.read_labels(_write_json(media, "labels.json", data))
    assert [(r.path.name, r.mos) for r in recs] == [("a.mp4", 3.1), ("b.mp4", 2.5), ("d.mkv", 1.0)]
    with pytest.raises(DataError, match="record 0: needs a path"):
        datasets.read_labels(_write_json(media, "bad.json", [{"path_to": "a.mp4", "mos": 1}]))


def test_csv_labels_and_errors(media):
    (media / "l.csv").write_text("path,mos,extra\na.mp4,10,x\nb.mp4, 20 ,y\n", encoding="utf-8")
    assert [(r.path.name, r.mos) for r in datasets.read_labels(media / "l.csv")] == [
        ("a.mp4", 10),
        ("b.mp4", 20),
    ]
    (media / "h.csv").write_text("file,score\na.mp4,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="must name 'path' and 'mos'"):
        datasets.read_labels(media / "h.csv")
    (media / "n.csv").write_text("path,mos\na.mp4,1\nb.mp4,abc\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 3: 'mos' must be a number"):
        datasets.read_labels(media / "n.csv")
    with pytest.raises(DataError, match="unknown label format"):
        datasets.read_labels(media / "a.mp4")


def test_stalling_labels_csv_and_json(media):
    (media / "s.csv").write_text(
        "path,mos,stalling\na.mp4,1,none\nb.mp4,2,00110\nc.mp4,3,\n", encoding="utf-8"
    )
    assert [r.stalling for r in datasets.read_labels(media / "s.csv")] == ["none", "00110", None]
    data = [{"img_path": "a.mp4", "mos": 1, "stalling": "0001"}, {"img_path": "b.mp4", "mos": 2}]
    assert [r.stalling for r in datasets.read_labels(_write_json(media, "s.json", data))] == ["0001", None]
    (media / "bad.csv").write_text("path,mos,stalling\na.mp4,1,0\nb.mp4,2,0x10\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 3: 'stalling' must be 'none' or a string of 0/1"):
        datasets.read_labels(media / "bad.csv")
    with pytest.raises(DataError, match="record 0: 'stalling'"):
        datasets.read_labels(
            _write_json(media, "bad.json", [{"img_path": "a.mp4", "mos": 1, "stalling": 101}])
        )


def test_mos_to_levels_by_twenty_point_bins():
    # scale 0..100 given: 0-19.99 low, 20-39.99 poor, 40-59.99 fair, 60-79.99 good, 80-100 high
    cases = {
        0: "low",
        19.9: "low",
        20: "poor",
        39.9: "poor",
        40: "fair",
        59.9: "fair",
        60: "good",
        79.9: "good",
        80: "high",
        100: "high",
    }
    for mos, level in cases.items():
        assert labels.level_for(mos, 0, 100) == level, mos
    # 1..5 MOS: (mos - 1) / 4 * 100 -> 3.0 is 50 (fair), 4.2 is 80 (high), 1.7 is 17.5 (low)
    assert [labels.level_for(m, 1, 5) for m in (3.0, 4.2, 1.7)] == ["fair", "high", "low"]
    assert labels.answer_for(3.0, 1, 5) == "The quality of the video is fair."


def test_csv_becomes_scoring_instructions_with_min_max_or_given_range(media):
    (media / "s.csv").write_text("path,mos\na.mp4,2\nb.mp4,4\nc.mp4,3\ne.mp4,3.9\n", encoding="utf-8")
    samples = datasets.read_training_data(media / "s.csv")  # min 2, max 4: 3 -> 50, 3.9 -> 95
    assert [s.level for s in samples] == ["low", "high", "fair", "high"]
    assert samples[0].user is None and samples[2].answer == "The quality of the video is fair."
    ranged = datasets.read_training_data(media / "s.csv", mos_range=(1.0, 5.0))  # 2 -> 25, 4 -> 75
    assert [s.level for s in ranged] == ["poor", "good", "fair", "good"]
    with pytest.raises(DataError, match="outside --mos-range"):
        datasets.read_training_data(media / "s.csv", mos_range=(2.5, 5.0))
    (media / "flat.csv").write_text("path,mos\na.mp4,3\nb.mp4,3\n", encoding="utf-8")
    with pytest.raises(DataError, match="every MOS equals 3"):
        datasets.read_training_data(media / "flat.csv")


def test_stage_kind_check_names_the_record(media):
    samples = datasets.read_instruction_json(_write_json(media, "t.json", [_record("a.mp4")]))
    with pytest.raises(DataError, match="record 0: a.mp4 is a video, but this stage trains on images"):
        datasets.check_kinds(samples, "image", media / "t.json")


# --- stage configuration -------------------------------------------------------------------------
def test_shipped_stages_carry_the_official_hyper_parameters():
    assert stages.list_stages() == [
        "stage1-motion",
        "stage1-spatial",
        "stage2-streaming",
        "stage2-ugc",
        "stage3-assistant",
    ]
    for name in stages.list_stages():
        cfg = stages.resolve_train_config(name)
        assert (cfg.learning_rate, cfg.vision_tower_lr, cfg.lr_scheduler, cfg.warmup_ratio) == (
            1e-5,
            2e-6,
            "cosine",
            0.03,
        )
        assert (cfg.weight_decay, cfg.precision, cfg.epochs, cfg.per_device_batch_size) == (
            0.0,
            "bf16",
            1.0,
            1,
        )
        assert cfg.gradient_checkpointing and cfg.engine == "zero3" and not cfg.unmask_newlines
    assert stages.resolve_train_config("stage1-spatial").trainable == ("vision_tower", "projector")
    assert stages.resolve_train_config("stage1-motion").trainable == ("motion_encoder", "motion_projector")
    assert stages.resolve_train_config("stage3-assistant").init_from == "ugc-scorer"


def test_config_layers_and_unknown_keys(tmp_path):
    (tmp_path / "c.yaml").write_text("learning_rate: 2.0e-5\ngrad_accum: 2\n", encoding="utf-8")
    cfg = stages.resolve_train_config("stage2-ugc", tmp_path / "c.yaml", grad_accum=4, max_steps=None)
    assert (cfg.learning_rate, cfg.grad_accum, cfg.max_steps) == (2e-5, 4, -1)
    with pytest.raises(ConfigError) as err:
        stages.resolve_train_config("stage2-ugc", learning_rat=1.0)
    assert "did you mean 'learning_rate'" in err.value.one_line()
    with pytest.raises(ConfigError) as err:
        stages.resolve_train_config("stage2-ugx")
    assert "did you mean 'stage2-ugc'" in err.value.one_line()
    with pytest.raises(ConfigError, match="engine' must be one of"):
        stages.resolve_train_config("stage2-ugc", engine="zero2")
    with pytest.raises(ConfigError, match="unknown trainable group 'vision_towr'") as err:
        stages.resolve_train_config("stage2-ugc", trainable=["vision_towr"])
    assert "did you mean 'vision_tower'" in err.value.one_line()
    with pytest.raises(ConfigError, match="must be int"):
        stages.resolve_train_config("stage2-ugc", grad_accum="2")
    (tmp_path / "other.yaml").write_text("stage: stage3-assistant\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="says stage 'stage3-assistant'"):
        stages.resolve_train_config("stage2-ugc", tmp_path / "other.yaml")


def test_resolved_config_round_trips(tmp_path):
    cfg = stages.resolve_train_config("stage2-ugc", max_steps=3, mos_range=[1, 5])
    path = stages.save_resolved(cfg, tmp_path / "ckpt")
    assert stages.resolve_train_config("stage2-ugc", path) == cfg


def test_engine_files_are_shipped_and_parse():
    import yaml

    zero3 = json.loads(stages.engine_file("zero3").read_text())
    assert zero3["zero_optimization"]["stage"] == 3 and "offload_param" not in zero3["zero_optimization"]
    assert json.loads(stages.engine_file("fsdp").read_text())["auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert stages.engine_file("none") is None
    launch = yaml.safe_load((stages.ENGINES_DIR / "accelerate-8gpu.yaml").read_text())
    assert launch["num_processes"] == 8


def test_csv_data_needs_a_scoring_prompt(media):
    from vqa2cli.training.run import load_samples

    (media / "s.csv").write_text("path,mos\na.mp4,2\nb.mp4,4\n", encoding="utf-8")
    cfg = stages.resolve_train_config("stage3-assistant", data=str(media / "s.csv"))
    with pytest.raises(ConfigError, match="prompt style 'assistant' is no scoring prompt"):
        load_samples(cfg)
    ugc = stages.resolve_train_config("stage2-ugc", data=str(media / "s.csv"))
    assert [s.level for s in load_samples(ugc)] == ["low", "high"]
