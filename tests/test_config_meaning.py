"""Config meaning is checked where the config is validated (issue 25 item 9): repeated or multi-word level words
are refused in one line with exit 2, before any model loads; a level word that is not one token of the model's
tokenizer is refused at model load, also exit 2 (a config that does not fit the model, not a runtime fault)."""

from __future__ import annotations

import pytest
from cli_run import run

from vqa2cli.config import merge_layers
from vqa2cli.errors import ConfigError


@pytest.mark.parametrize(
    "levels, words",
    [
        ('[" high", " good", " fair", " poor", " high"]', "'high' twice"),
        ('[" high", "high", " fair", " poor", " low"]', "'high' twice"),
        ('[" high", " very good", " fair", " poor", " low"]', "' very good'"),
        ('[" high", "  ", " fair", " poor", " low"]', "single words"),
    ],
)
def test_bad_level_words_exit_2_in_one_line(tmp_path, capsys, levels, words):
    config = tmp_path / "c.toml"
    config.write_text(f"[scoring]\nlevels = {levels}\n", encoding="utf-8")
    code, out, err = run(["score", str(tmp_path / "x.mp4"), "--config", str(config)], capsys)
    assert code == 2 and words in err and "scoring.levels" in err, err
    assert err.strip().count("\n") == 0 and out == ""


def test_the_check_is_the_config_layer_s():
    with pytest.raises(ConfigError, match="twice"):
        merge_layers({"scoring": {"levels": [" a", " b", " a"], "weights": [1.0, 0.5, 0.0]}})
    merge_layers({"scoring": {"levels": [" a", " b", " c"], "weights": [1.0, 0.5, 0.0]}})  # distinct: fine
