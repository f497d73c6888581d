"""`--format vmaf-json` (score) and `batch --vmaf-json`: the output read back by a reader written against
libvmaf's documented JSON log layout (libvmaf/src/output.c ``vmaf_write_output_json``: ``version``, ``fps``,
``frames[].frameNum``/``metrics``, ``pooled_metrics.<metric>.{min,max,mean,harmonic_mean}``,
``aggregate_metrics``), not against vqa2's writer; its numbers checked against the same run's JSON records."""

from __future__ import annotations

import json
import math

import pytest
from cli_run import run

POOL_NAMES = ("min", "max", "mean", "harmonic_mean")  # libvmaf's pool_method_name[]


def read_vmaf_log(text: str) -> dict:
    """One libvmaf JSON log as a dashboard reads it: {metric: [(frameNum, value), ...]}, pooled, aggregate.
    Fails on anything the layout does not allow."""
    doc = json.loads(text)
    assert isinstance(doc["version"], str)
    assert doc["fps"] is None or isinstance(doc["fps"], (int, float))
    series: dict[str, list[tuple[int, float]]] = {}
    for frame in doc["frames"]:
        assert isinstance(frame["frameNum"], int) and frame["frameNum"] >= 0
        for name, value in frame["metrics"].items():
            assert value is None or isinstance(value, (int, float))
            series.setdefault(name, []).append((frame["frameNum"], value))
    for name, pooled in doc["pooled_metrics"].items():
        assert set(pooled) <= set(POOL_NAMES) and name in series
    for value in doc["aggregate_metrics"].values():
        assert isinstance(value, (int, float))
    nums = [f["frameNum"] for f in doc["frames"]]
    assert nums == sorted(set(nums)), "frameNum ascending and unique, as libvmaf writes them"
    return {"series": series, "pooled": doc["pooled_metrics"], "aggregate": doc["aggregate_metrics"]}


def check_pooled(log: dict, metric: str = "vqa2") -> None:
    """min/max/mean as libvmaf pools the frames; harmonic_mean = VMAF's 1/mean(1/(x+1)) - 1 on 0-100."""
    values = [v for _, v in log["series"][metric]]
    pooled = log["pooled"][metric]
    assert pooled["min"] == pytest.approx(min(values), abs=1e-6)
    assert pooled["max"] == pytest.approx(max(values), abs=1e-6)
    assert pooled["mean"] == pytest.approx(sum(values) / len(values), abs=1e-6)
    x = [100 * v for v in values]
    harmonic = (len(x) / sum(1 / (v + 1) for v in x) - 1) / 100
    assert pooled["harmonic_mean"] == pytest.approx(harmonic, abs=1e-6)
    assert all(math.isfinite(pooled[k]) for k in POOL_NAMES)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from clips import make_lossless_frames

    root = tmp_path_factory.mktemp("vmafjson")
    config = root / "small.toml"
    config.write_text("[video]\nmotion_size = 64\n")  # a small SlowFast input keeps the CPU tests fast
    return {"long": make_lossless_frames(root / "long.mkv", 0, 52), "config": config, "root": root}


def _both(args, capsys):
    """(the JSON records, the vmaf-json lines) of the same command."""
    code, out, err = run([*args, "-f", "json"], capsys)
    records = json.loads(out)
    code2, vmaf, err2 = run([*args, "-f", "vmaf-json"], capsys)
    assert code2 == code, err2
    return code, records, [line for line in vmaf.split("\n") if line]


def test_windowed_record_one_frame_per_window(tiny_model_dir, files, capsys):
    args = [
        "score",
        str(files["long"]),
        "-m",
        str(tiny_model_dir),
        "--config",
        str(files["config"]),
        "--segments",
        "2s",
    ]
    code, (record,), lines = _both(args, capsys)
    assert code == 0 and len(lines) == 1, "one file: exactly one libvmaf document"
    log = read_vmaf_log(lines[0])
    assert set(log["series"]) == {"vqa2"}
    assert log["series"]["vqa2"] == [(s["start_frame"], s["score"]) for s in record["segments"]]
    assert [n for n, _ in log["series"]["vqa2"]] == [0, 16, 32]  # 8 fps, 2 s windows: frame numbers
    check_pooled(log)
    assert log["pooled"]["vqa2"]["min"] == record["pooled"]["min"]
    assert log["aggregate"] == {"vqa2": record["score"]}  # the --pool choice (weighted mean)
    assert json.loads(lines[0])["vqa2"]["path"] == str(files["long"])


def test_one_forward_record_one_frame_per_key_frame_and_several_files(
    tiny_model_dir, files, make_clip, capsys
):
    clip = make_clip("vm.mp4")
    missing = str(files["root"] / "missing.mp4")
    args = [
        "score",
        str(clip),
        str(files["long"]),
        missing,
        "-m",
        str(tiny_model_dir),
        "--config",
        str(files["config"]),
    ]
    code, records, lines = _both(args, capsys)
    assert code == 3 and len(lines) == 3, "several files: one document per line, in argument order"
    for record, line in zip(records[:2], lines):
        log = read_vmaf_log(line)
        assert record["segments"] is None
        keys = record["sampling"]["keyframe_indices"]
        assert log["series"]["vqa2"] == [(k, record["score"]) for k in keys]
        check_pooled(log)
        assert log["aggregate"]["vqa2"] == record["score"]
    error = json.loads(lines[2])
    assert error["frames"] == [] and error["pooled_metrics"] == {} and error["vqa2"]["status"] == "error"
    assert error["vqa2"]["error"]["code"] == "file_missing"


def test_batch_vmaf_json_rows_resume(tiny_model_dir, files, make_clip, tmp_path, capsys):
    out = tmp_path / "logs.jsonl"
    args = [
        "batch",
        str(make_clip("vm.mp4")),
        str(files["long"]),
        "-m",
        str(tiny_model_dir),
        "--config",
        str(files["config"]),
        "--vmaf-json",
        str(out),
        "-q",
    ]
    code, _, err = run(args, capsys)
    assert code == 0, err
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and all(read_vmaf_log(line)["series"]["vqa2"] for line in lines)
    code, summary, err = run([*args, "--resume", "--summary"], capsys)
    assert code == 0, err
    assert json.loads(summary)["skipped_done"] == 2 and out.read_text().splitlines() == lines


def test_ask_refuses_vmaf_json(tiny_model_dir, make_clip, capsys):
    code, out, err = run(
        ["ask", str(make_clip("vm.mp4")), "What?", "-m", str(tiny_model_dir), "-f", "vmaf-json"], capsys
    )
    assert code == 2 and out == "" and "vmaf-json" in err


def test_python_api_gives_the_same_document(tiny_scorer, files):
    import vqa2cli

    data = tiny_scorer.score(str(files["long"])).to_dict()  # one forward: within the tiny model's limits
    log = read_vmaf_log(json.dumps(vqa2cli.vmaf_document(data)))
    assert log["series"]["vqa2"] == [(k, data["score"]) for k in data["sampling"]["keyframe_indices"]]
    check_pooled(log)


def test_batch_vmaf_json_is_a_row_file_like_the_others(tmp_path):
    from vqa2cli.errors import UsageError
    from vqa2cli.jobs.engine import JobSpec

    same = str(tmp_path / "rows")
    with pytest.raises(UsageError, match="--csv and --vmaf-json both name"):
        JobSpec(inputs=["x"], csv=same, vmaf_json=same).validate()
    with pytest.raises(UsageError, match="--vmaf-json - is not supported"):
        JobSpec(inputs=["x"], vmaf_json="-").validate()
    spec = JobSpec(inputs=["x"], vmaf_json=str(tmp_path / "logs.jsonl"))
    spec.validate()
    assert [(o.path, o.fmt) for o in spec.outputs()] == [(str(tmp_path / "logs.jsonl"), "vmaf-json")]
