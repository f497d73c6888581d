"""Every numeric setting has a declared range; out-of-range values (generated from that declaration) fail
with one line naming the key, the range and the value, exit 2, before any video is read."""

import dataclasses
import math
import typing

import pytest

from vqa2cli.cli.app import main
from vqa2cli.config import Range, Settings, load_config_file, merge_layers, setting_range
from vqa2cli.errors import ConfigError, ExitCode


@pytest.fixture
def run_cli(capsys):
    def run(args):
        with pytest.raises(SystemExit) as exc:
            main(args)
        out, err = capsys.readouterr()
        return exc.value.code, out, err

    return run


def _numeric_settings():
    for section in dataclasses.fields(Settings):
        cls = section.default_factory
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            inner = typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else hint
            if inner in (int, float):
                yield section.name, f.name, hint, inner


NUMERIC = list(_numeric_settings())


def _bad_values(bounds: Range, inner: type) -> list:
    step = 1 if inner is int else max(1e-6, abs(bounds.hi - bounds.lo) * 1e-6)
    bad = [bounds.hi + step, bounds.hi * 10 + 1, -abs(bounds.hi) - 1]
    bad.append(bounds.lo if bounds.lo_open else bounds.lo - step)
    if inner is float:
        bad += [math.nan, math.inf, -math.inf]
    return [inner(v) if inner is int else v for v in bad if not (inner is int and not math.isfinite(v))]


def _good_values(bounds: Range, inner: type) -> list:
    lo = bounds.lo + (1 if inner is int else 1e-3) if bounds.lo_open else bounds.lo
    return [inner(lo), inner(bounds.hi)]


def _layer(section, key, hint, value):
    if typing.get_origin(hint) is tuple:
        default = getattr(getattr(Settings(), section), key)
        value = (value,) + tuple(default[1:])  # one bad element among good ones
    return {section: {key: value}}


def test_numeric_settings_exist_and_all_declare_a_range():
    assert len(NUMERIC) >= 11  # the walk below really walks something
    missing = [f"{s}.{k}" for s, k, _, _ in NUMERIC if setting_range(s, k) is None]
    assert not missing, f"numeric settings without a declared range: {missing}"


@pytest.mark.parametrize("section,key,hint,inner", NUMERIC, ids=[f"{s}.{k}" for s, k, _, _ in NUMERIC])
def test_every_setting_rejects_values_outside_its_declared_range(section, key, hint, inner):
    bounds = setting_range(section, key)
    default = getattr(getattr(Settings(), section), key)
    for item in default if isinstance(default, tuple) else (default,):
        assert item in bounds, f"{section}.{key}: the default {item} is outside {bounds}"
    for value in _good_values(bounds, inner):
        got = getattr(getattr(merge_layers(_layer(section, key, hint, value)), section), key)
        assert (got[0] if isinstance(got, tuple) else got) == value
    for value in _bad_values(bounds, inner):
        with pytest.raises(ConfigError) as info:
            merge_layers(_layer(section, key, hint, value))
        text = info.value.one_line()
        assert f"'{section}.{key}'" in text and str(bounds) in text and repr(value) in text, text
        assert info.value.exit_code == ExitCode.USAGE and "\n" not in text


@pytest.mark.parametrize(
    "key,value",
    [
        ("keyframe_size", -384),
        ("motion_size", 0),
        ("max_motion_frames", 0),
        ("keyframe_fps", 0.0),
        ("keyframe_fps", math.nan),
        ("max_tokens", 0),
        ("decode_threads", -3),
    ],
)
def test_the_reported_values(key, value):
    with pytest.raises(ConfigError, match=rf"video\.{key}' must be (a finite number )?in [\[(].*got"):
        merge_layers({"video": {key: value}})


def test_a_later_layer_may_fix_an_earlier_bad_value_only_if_it_sets_it():
    with pytest.raises(ConfigError, match="video.max_tokens"):
        merge_layers({"video": {"max_tokens": 0}}, {"video": {"motion_size": 224}})
    assert (
        merge_layers({"video": {"max_tokens": 0}}, {"video": {"max_tokens": 9000}}).video.max_tokens == 9000
    )


def test_config_file_that_is_not_utf8(tmp_path):
    bad = tmp_path / "c.yaml"
    data = b"video:\n  motion_size: 224 # caf\xe9\n"
    bad.write_bytes(data)
    offset = data.index(0xE9)
    with pytest.raises(ConfigError, match=rf"not UTF-8 text \(byte 0xe9 at offset {offset}\)"):
        load_config_file(bad)


def test_cli_range_errors_exit_2_before_any_file_is_read(tmp_path, run_cli):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("video:\n  keyframe_fps: .nan\n")
    missing = str(tmp_path / "no-such-video.mp4")  # would be exit 3 if any file were looked at first
    for args in (
        ["score", missing, "--config", str(cfg)],
        ["probe", missing, "--config", str(cfg)],
        ["score", missing, "--max-motion-frames", "0"],
        ["batch", str(tmp_path), "--csv", str(tmp_path / "o.csv"), "--max-motion-frames", "0"],
    ):
        code, out, err = run_cli(args)
        assert code == 2, (args, err)
        assert err.strip().count("\n") == 0 and "video." in err and "got" in err, err
    latin = tmp_path / "l.toml"
    latin.write_bytes("[video]\nmotion_size = 224 # é\n".encode("latin-1"))
    code, _, err = run_cli(["score", missing, "--config", str(latin)])
    assert code == 2 and "not UTF-8" in err and err.strip().count("\n") == 0
