"""The spread next to every score (records/spread.py): its formula on hand-made distributions, the pooled
form for windows, and where it shows (JSON, CSV, table)."""

import csv
import io
import json
import math

import pytest

from vqa2cli.output.render import make_writer
from vqa2cli.records.results import SCORE_COLUMNS, ScoreRecord, error_score_record
from vqa2cli.records.spread import level_spread, pooled_spread, record_spread

W = (1.0, 0.75, 0.5, 0.25, 0.0)


def test_uniform_is_maximum_entropy_and_its_std():
    s = level_spread([0.2] * 5, W)
    assert s["entropy"] == pytest.approx(1.0)
    assert s["std"] == pytest.approx(math.sqrt(0.125))  # mean 0.5, E[(w-0.5)^2] = 0.625 / 5


@pytest.mark.parametrize("hot", range(5))
def test_one_hot_is_zero(hot):
    p = [0.0] * 5
    p[hot] = 1.0
    assert level_spread(p, W) == {"std": 0.0, "entropy": 0.0}


def test_formula_on_a_two_point_distribution():
    s = level_spread([0.5, 0, 0, 0, 0.5], W)  # the largest std the 0-1 weights allow
    assert s["std"] == pytest.approx(0.5) and s["entropy"] == pytest.approx(math.log(2) / math.log(5))
    p = [0.1, 0.4, 0.3, 0.15, 0.05]
    mean = sum(a * b for a, b in zip(p, W))
    assert level_spread(p, W)["std"] == pytest.approx(
        math.sqrt(sum(a * (b - mean) ** 2 for a, b in zip(p, W)))
    )


def test_rounded_probabilities_are_renormalised_and_bad_ones_refused():
    assert level_spread([0.2000001] * 5, W)["entropy"] == pytest.approx(1.0)
    for bad in ([0.5, 0.5], [-0.1, 1.1, 0, 0, 0], [0, 0, 0, 0, 0], [float("nan")] * 5):
        with pytest.raises(ValueError):
            level_spread(bad, W)


def test_windows_pool_by_duration():
    a, b = {"std": 0.3, "entropy": 0.8}, {"std": 0.0, "entropy": 0.0}
    pooled = pooled_spread([a, b], [30.0, 10.0])  # RMS of std, mean of entropy, weighted 3:1
    assert pooled["std"] == pytest.approx(math.sqrt(0.75 * 0.09)) and pooled["entropy"] == pytest.approx(0.6)
    segments = [
        {"probs": {"high": 1, "good": 0, "fair": 0, "poor": 0, "low": 0}, "start_s": 0, "end_s": 10},
        {
            "probs": {"high": 0.2, "good": 0.2, "fair": 0.2, "poor": 0.2, "low": 0.2},
            "start_s": 10,
            "end_s": 20,
        },
    ]
    rec = record_spread({"high": 0.6, "good": 0.1, "fair": 0.1, "poor": 0.1, "low": 0.1}, segments, None)
    assert rec["std"] == pytest.approx(math.sqrt(0.125 / 2), abs=1e-6) and rec["entropy"] == pytest.approx(
        0.5
    )


def test_card_weights_are_used():
    p = {"a": 0.5, "b": 0.5}
    assert record_spread(p, None, {"scoring": {"weights": [1.0, 0.0]}})["std"] == pytest.approx(0.5)


def _record():
    return ScoreRecord(
        path="x.mp4",
        score=0.625,
        probs={"high": 0.1, "good": 0.4, "fair": 0.3, "poor": 0.15, "low": 0.05},
        level="good",
    )


def test_json_csv_and_table_carry_it():
    want = level_spread([0.1, 0.4, 0.3, 0.15, 0.05], W)
    d = _record().to_dict()
    assert d["spread"]["std"] == pytest.approx(want["std"], abs=1e-6) and d["calibrated"] is None
    assert error_score_record("y.mp4", "file_missing", "y.mp4: no such file").to_dict()["spread"] is None
    buf = io.StringIO()
    w = make_writer("csv", buf, "score")
    w.write(_record())
    w.close()
    row = next(csv.DictReader(io.StringIO(buf.getvalue())))
    assert tuple(row) == SCORE_COLUMNS and float(row["score_std"]) == pytest.approx(want["std"], abs=1e-6)
    assert row["calibrated"] == "" and row["extrapolated"] == ""
    buf = io.StringIO()
    w = make_writer("table", buf, "score")
    w.write(_record())
    w.close()
    assert f"0.6250 ± {want['std']:.2f}" in buf.getvalue().splitlines()[1]
    buf = io.StringIO()
    w = make_writer("json", buf, "score")
    w.write(_record())
    w.close()
    assert set(json.loads(buf.getvalue())[0]["spread"]) == {"std", "entropy"}
