import dataclasses

import pytest

from vqa2cli.config import Settings, flags_layer, load_config_file, merge_layers
from vqa2cli.errors import ConfigError


def test_precedence_defaults_card_file_flags():
    card = {"video": {"motion_size": 224, "max_tokens": 9000}, "runtime": {"dtype": "bf16"}}
    file = {"video": {"motion_size": 256}}
    flags = flags_layer(video__max_tokens=8000, runtime__quant=None)
    s = merge_layers(card, file, flags)
    assert s.video.motion_size == 256  # file beats card
    assert s.video.max_tokens == 8000  # flag beats card
    assert s.runtime.dtype == "bf16"  # card beats default
    assert s.runtime.quant == "auto"  # unset flag keeps the default
    assert s.video.keyframe_size == Settings().video.keyframe_size


def test_unknown_key_suggests_close_match():
    with pytest.raises(ConfigError, match="did you mean 'motion_size'"):
        merge_layers({"video": {"motoin_size": 3}})
    with pytest.raises(ConfigError, match="did you mean 'runtime'"):
        merge_layers({"runtim": {}})


def test_types_and_choices_are_checked():
    with pytest.raises(ConfigError, match="must be int"):
        merge_layers({"video": {"max_tokens": "many"}})
    with pytest.raises(ConfigError, match="one of auto, none, 8bit, 4bit"):
        merge_layers({"runtime": {"quant": "3bit"}})
    with pytest.raises(ConfigError, match="same length"):
        merge_layers({"scoring": {"levels": [" a", " b"], "weights": [1.0]}})


def test_settings_are_frozen_and_round_trip():
    s = merge_layers({"scoring": {"weights": [1, 0.8, 0.6, 0.4, 0.2]}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.video.max_tokens = 1  # frozen
    assert merge_layers(s.to_dict()) == s
    assert s.scoring.weights == (1.0, 0.8, 0.6, 0.4, 0.2)


def test_config_file_yaml_and_toml(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("video:\n  motion_size: 224\n")
    t = tmp_path / "c.toml"
    t.write_text("[runtime]\ndtype = 'fp32'\n")
    assert merge_layers(load_config_file(y)).video.motion_size == 224
    assert merge_layers(load_config_file(t)).runtime.dtype == "fp32"
    with pytest.raises(ConfigError, match="not found"):
        load_config_file(tmp_path / "missing.yaml")
