"""vqa2 calibrate on synthetic scores (calibration/): a known nonlinear map recovered, SRCC unchanged, PLCC
and RMSE better on held-out folds; the file round-trips and is refused when edited, newer or for other
settings; extrapolation flagged; bad labels files refused in one line naming the row."""

import json

import numpy as np
import pytest

from vqa2cli.calibration import calibrate, load_calibration
from vqa2cli.calibration.data import read_label_records
from vqa2cli.calibration.file import write
from vqa2cli.calibration.fit import Fit, check_monotone, fit
from vqa2cli.calibration.select import choose, metrics
from vqa2cli.config import Settings
from vqa2cli.errors import DataError, UsageError

CONFIG = Settings().to_dict()


def truth(x):
    """The team's scale: a 1-5 MOS, a logistic of the score (what VQEG assumes)."""
    return 1 + 4 / (1 + np.exp(-(x - 0.5) / 0.08))


def synthetic(n=80, noise=0.1, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.15, 0.85, n)
    return x, truth(x) + rng.normal(0, noise, n)


def test_known_nonlinear_map_recovered_within_tolerance():
    x, y = synthetic()
    f, report = choose(x, y, n_boot=50)
    grid = np.linspace(0.2, 0.8, 61)
    assert report["chosen"] in ("logistic4", "logistic5")
    assert np.abs(f(grid) - truth(grid)).max() < 0.2  # stated tolerance: 5 % of the 1-5 scale, noise sd 0.1


def test_srcc_unchanged_by_the_map_and_plcc_rmse_better_held_out():
    x, y = synthetic()
    f, report = choose(x, y, n_boot=50)
    assert metrics(f(x), y)["srcc"] == pytest.approx(metrics(x, y)["srcc"], abs=1e-12)
    before, after = report["before"], report["after"]
    assert after["plcc"]["value"] > before["plcc"]["value"] + 0.01
    assert after["rmse"]["value"] < before["rmse"]["value"] * 0.8
    lo, hi = after["rmse"]["ci95"]
    assert lo <= after["rmse"]["value"] <= hi


def test_isotonic_is_pav_and_monotone():
    f = fit("isotonic", [0.1, 0.2, 0.3, 0.4], [1.0, 3.0, 2.0, 4.0])
    assert f.params == {"x": [0.1, 0.2, 0.3, 0.4], "y": [1.0, 2.5, 2.5, 4.0]}
    assert list(f([0.0, 0.25, 1.0])) == [1.0, 2.5, 4.0]  # held flat past the ends
    down = fit("isotonic", [0.1, 0.2, 0.3], [5.0, 3.0, 4.0])  # a lower-is-better scale (DMOS)
    assert down.params["y"] == [5.0, 3.5, 3.5]


def test_refusals_too_few_constant_not_monotone():
    with pytest.raises(DataError, match="at least 10"):
        choose([0.1 * i for i in range(5)], list(range(5)))
    with pytest.raises(DataError, match="all 20 labels are equal"):
        choose(np.linspace(0, 1, 20), [3.0] * 20)
    with pytest.raises(DataError, match="not monotone"):
        check_monotone(Fit("logistic5", [1.0, 20.0, 0.5, -3.0, 0.0]), 0.0, 1.0)


def _calibration(tmp_path, config=CONFIG):
    x, y = synthetic()
    cal = calibrate(x, y, config=config, scale="mos-1-5", n_boot=20)
    path = tmp_path / "team.json"
    write(cal, str(path))
    return cal, path


def test_file_round_trips_and_flags_extrapolation(tmp_path):
    cal, path = _calibration(tmp_path)
    back = load_calibration(str(path))
    assert back.to_json() == cal.to_json() and back.kind == cal.kind
    inside = back.apply(0.5)
    assert inside["scale"] == "mos-1-5" and not inside["extrapolated"]
    assert inside["value"] == pytest.approx(float(truth(np.array([0.5]))[0]), abs=0.2)
    assert back.apply(0.99)["extrapolated"] and back.apply(0.01)["extrapolated"]
    body = json.loads(path.read_text())
    assert (
        body["schema"] == "vqa2.calibration/1" and body["n"] == 80 and body["model"]["name"] == "ugc-scorer"
    )
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically


def test_refused_for_other_settings_edited_newer_or_corrupt(tmp_path):
    cal, path = _calibration(tmp_path)
    cal.check_settings(CONFIG | {"runtime": CONFIG["runtime"] | {"device": "cuda"}})  # the device may differ
    for section, key, value in (
        ("model", "revision", "abc123"),
        ("runtime", "quant", "4bit"),
        ("video", "motion_frame_step", 8),
        ("model", "name", "other"),
    ):
        other = json.loads(json.dumps(CONFIG))
        other[section][key] = value
        with pytest.raises(UsageError, match=f"{section}.{key}"):
            load_calibration(str(path)).check_settings(other)
    body = json.loads(path.read_text())
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(body | {"params": body["params"]}).replace('"n": 80', '"n": 81'))
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(body | {"schema": "vqa2.calibration/9"}))
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text(path.read_text()[:50])
    for bad, words in (
        (edited, "edited by hand"),
        (newer, "newer vqa2"),
        (corrupt, "not a readable"),
        (tmp_path / "none.json", "not found"),
    ):
        with pytest.raises(UsageError, match=words) as exc:
            load_calibration(str(bad))
        assert "\n" not in str(exc.value) and str(bad) in str(exc.value)


@pytest.mark.parametrize(
    "content, words",
    [
        ("path,mos\na.mp4,3\na.mp4,4\n", "record 1: .*a.mp4 is labelled twice .also record 0"),
        ("path,mos\na.mp4,3\nb.mp4,nan\n", "record 1: 'mos' must be finite"),
        ("path,mos\na.mp4,3\nb.mp4,good\n", "record 1: 'mos' must be a number"),
        ("path,mos\na.mp4,3\nmissing.mp4,4\n", "record 1: media file not found"),
        ("path,mos\na.mp4,3\nsub/b.mp4,4\n", "record 1: media file not found.*sub/b.mp4"),
    ],
)
def test_bad_labels_files_one_line_naming_the_row(tmp_path, content, words):
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"x")
    labels = tmp_path / "labels.csv"
    labels.write_text(content)
    with pytest.raises(DataError, match=words) as exc:
        read_label_records(labels)
    assert "\n" not in exc.value.message


def test_labels_in_another_encoding_named_by_line(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    labels = tmp_path / "labels.csv"
    labels.write_bytes("path,mos\na.mp4,3\nvidéo.mp4,4\n".encode("latin-1"))
    with pytest.raises(DataError, match="line 3 is not UTF-8") as exc:
        read_label_records(labels)
    assert "UTF-8" in exc.value.fix


def test_settings_record_run_section_is_not_bound():
    from vqa2cli.calibration.file import settings_key

    assert "run" not in settings_key(CONFIG | {"run": {"stalling_style": "sequence"}})
    cal = calibrate(*synthetic(), config=CONFIG | {"run": {"stalling_style": "sequence"}}, n_boot=5)
    cal.check_settings(CONFIG)  # an eval --scores-csv calibration applies to score records
