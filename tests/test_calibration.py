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
    return x, np.clip(truth(x) + rng.normal(0, noise, n), 1.0, 5.0)  # a 1-5 MOS stays on its scale


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
    with pytest.raises(DataError, match="isotonic fit is flat"):  # labels falling as the score rises
        fit("isotonic", [0.1, 0.2, 0.3], [5.0, 3.0, 2.0])


def test_refusals_too_few_constant_not_monotone():
    with pytest.raises(DataError, match="at least 10"):
        choose([0.1 * i for i in range(5)], list(range(5)))
    with pytest.raises(DataError, match="all 20 labels are equal"):
        choose(np.linspace(0, 1, 20), [3.0] * 20)
    with pytest.raises(DataError, match="decreases"):
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
        ("path,mos\na.mp4,3\na.mp4,4\n", "line 3: .*a.mp4 is labelled twice .also line 2"),
        ("path,mos\na.mp4,3\n\na.mp4,4\n", "line 4: .*a.mp4 is labelled twice .also line 2"),
        ("path,mos\na.mp4,3\nb.mp4,nan\n", "line 3: 'mos' must be finite"),
        ("path,mos\na.mp4,3\nb.mp4,good\n", "line 3: 'mos' must be a number"),
        ("path,mos\na.mp4,3\nmissing.mp4,4\n", "line 3: media file not found"),
        ("path,mos\na.mp4,3\nsub/b.mp4,4\n", "line 3: media file not found.*sub/b.mp4"),
        ("path,mos\na.mp4,3\nb.mp4, 4,26\n", "line 3 has 3 fields, the header 2.*decimal"),
        ("path,mos\na.mp4,3\nb.mp4\n", "line 3 has 1 fields, the header 2"),
        ("path,mos\n\na.mp4,3,1\n", "line 3 has 3 fields"),
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


def test_labels_with_a_byte_order_mark_are_read(tmp_path):
    """Excel's "CSV UTF-8" starts with a BOM: the header's first column is still ``path``."""
    (tmp_path / "a.mp4").write_bytes(b"x")
    labels = tmp_path / "labels.csv"
    labels.write_bytes("\ufeffpath,mos\r\na.mp4,3\r\n".encode())
    (record,) = read_label_records(labels)
    assert record.mos == 3.0 and record.line == 2
    official = tmp_path / "labels.json"
    official.write_bytes('\ufeff[{"img_path": "a.mp4", "mos": 3}]'.encode())
    assert read_label_records(official)[0].mos == 3.0


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


# The newcomer's pairs (tiny random model): the score falls as the label rises; today's fit was a
# decreasing step function, worse held out than no fit, written with exit 0.
NC_X = [0.520034, 0.520388, 0.520528, 0.521038, 0.496296, 0.496747, 0.514072, 0.514354, 0.526648, 0.526607]
NC_Y = [3.63, 1.85, 4.26, 1.26, 4.00, 1.45, 4.15, 1.79, 3.59, 1.03]


@pytest.mark.parametrize("kind", ["auto", "logistic4", "isotonic"])
def test_decreasing_or_degenerate_data_is_refused_with_the_fix(kind):
    with pytest.raises(DataError) as exc:
        choose(NC_X, NC_Y, kind=kind, n_boot=20)
    assert "\n" not in exc.value.one_line() and "same videos" in exc.value.one_line()
    x, y = synthetic(n=40)
    with pytest.raises(DataError, match="decreases|flat"):  # a lower-is-better scale: refused, not inverted
        choose(x, 6.0 - y, kind=kind, n_boot=20)


def test_step_flat_and_decreasing_maps_are_refused():
    with pytest.raises(DataError, match="step function"):  # slope scale ~0: |b4| = 1e-6
        check_monotone(Fit("logistic4", [5.0, 1.0, 0.5, 1e-6]), 0.4, 0.6, 4.0)
    with pytest.raises(DataError, match="flat"):  # spans 0.01 of a 4-point scale
        check_monotone(Fit("logistic4", [1.01, 1.0, 0.5, 0.1]), 0.0, 1.0, 4.0)
    with pytest.raises(DataError, match="decreases"):  # b1 < b2: a higher score maps lower
        check_monotone(Fit("logistic4", [1.0, 5.0, 0.5, 0.1]), 0.0, 1.0, 4.0)
    check_monotone(Fit("logistic4", [5.0, 1.0, 0.5, 0.1]), 0.0, 1.0, 4.0)  # a real S-curve passes


def test_refused_names_every_kind_left_out_and_why():
    x, y = synthetic(n=14)  # 5 folds of 14 leave 11 per training fold: too few for logistic5
    _, report = choose(x, y, n_boot=20)
    assert "needs 12 labels per training fold" in report["refused"]["logistic5"]


def test_a_map_worse_than_no_fit_is_refused():
    from vqa2cli.calibration.select import check_better

    def side(plcc, rmse):
        return {"plcc": {"value": plcc}, "rmse": {"value": rmse}}

    with pytest.raises(DataError, match="worse held out than no fit: RMSE 1.84 against 1.59"):
        check_better("logistic4", side(-0.09, 1.59), side(-0.69, 1.84))
    check_better("logistic4", side(0.9, 0.5), side(0.95, 0.4))


def test_before_and_after_rank_metrics_agree_on_the_same_held_out_points():
    """Before and after are computed on the same held-out points with the same bootstrap resamples: with
    every fold recovering the same increasing map, SRCC and KRCC (values and intervals) are identical."""
    x, y = synthetic(n=40, noise=0.0)
    _, report = choose(x, y, kind="logistic4", n_boot=50)
    for m in ("srcc", "krcc"):
        assert report["after"][m]["value"] == pytest.approx(report["before"][m]["value"], abs=1e-12)
        assert report["after"][m]["ci95"] == pytest.approx(report["before"][m]["ci95"], abs=1e-12)
    x, y = synthetic(n=60)  # noisy: the folds' maps differ a little, the ranks hardly
    _, report = choose(x, y, n_boot=20)
    assert report["after"]["srcc"]["value"] == pytest.approx(report["before"]["srcc"]["value"], abs=0.01)


def test_a_threshold_the_calibration_cannot_reach_is_refused(tmp_path):
    from vqa2cli.calibration.apply import RecordGates

    cal, _ = _calibration(tmp_path)
    for threshold, words in ((50.0, "every file would fail"), (0.5, "no file could fail")):
        with pytest.raises(UsageError, match=words) as exc:
            RecordGates(cal, fail_calibrated_under=threshold)
        assert "mos-1-5" in exc.value.one_line() and "\n" not in exc.value.one_line()
    assert RecordGates(cal, fail_calibrated_under=3.5).fail_calibrated_under == 3.5


@pytest.mark.parametrize("scale", ["mos-1-5", "mos_1_5", "1-5"])
def test_a_scale_name_stating_a_range_the_labels_leave_is_refused(scale):
    x, y = synthetic()
    with pytest.raises(UsageError, match=f"--scale {scale} states 1–5 but the labels run"):
        calibrate(x, 2 * y, config=CONFIG, scale=scale, n_boot=20)  # labels up to ~10
    with pytest.raises(UsageError, match="states 0–100"):
        calibrate(x, 30 * y, config=CONFIG, scale="vmaf", n_boot=20)


def test_the_plot_band_stays_inside_the_labels_range(tmp_path):
    from vqa2cli.output.calibration_plot import band

    cal, _ = _calibration(tmp_path)
    lower, upper = band(cal, cal.fit(np.linspace(0, 1, 50)))
    assert lower.min() >= cal.scale["min"] and upper.max() <= cal.scale["max"]
