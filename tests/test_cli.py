"""`vqa2 score` / `vqa2 ask` end to end on the tiny random checkpoint: formats, exit codes, stdout/stderr
split, inputs checked before weights load, Ctrl-C keeps printed results."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest
from cli_run import run  # noqa: E402

from vqa2cli.records.results import SCORE_COLUMNS


@pytest.fixture(scope="module")
def clip(make_clip):
    return make_clip("cli clip ü.mp4", seconds=3.0, fps=8, width=64, height=48)


@pytest.fixture(scope="module")
def clip2(make_clip):
    return make_clip("second.mkv", seconds=1.5, fps=10, width=48, height=64, container="mkv")


@pytest.mark.usefixtures("reuse_tiny_scorer")  # output and gate tests: one loaded scorer
def test_score_json_schema_and_stdout_only_results(tiny_model_dir, clip, clip2, capsys):
    code, out, err = run(
        ["score", str(clip), str(clip2), "--model", str(tiny_model_dir), "--format", "json"], capsys
    )
    assert code == 0, err
    data = json.loads(out)  # stdout is pure JSON
    assert [d["path"] for d in data] == [str(clip), str(clip2)]
    first = data[0]
    assert first["schema"] == "vqa2.score/1" and first["status"] == "ok"
    assert 0.0 <= first["score"] <= 1.0
    assert sum(first["probs"].values()) == pytest.approx(1.0, abs=1e-4)
    assert set(first["probs"]) == {"high", "good", "fair", "poor", "low"}
    assert first["level"] == max(first["probs"], key=first["probs"].get)
    assert first["official_score"] == pytest.approx(0.2 + 0.8 * first["score"], abs=1e-5)
    assert first["sampling"]["keyframes"] == 3 and first["sampling"]["motion_frames"] == 24
    assert first["sampling"]["visual_tokens"] == 3 * 196 + 1
    from vqa2cli.modeling.precision import cpu_has_bf16

    # --quant auto / --dtype auto: the tiny model fits unquantized, in fp32 unless the CPU has native bf16
    assert (
        first["model"]["dtype"] == ("bf16" if cpu_has_bf16() else "fp32")
        and first["model"]["quant"] == "none"
    )
    assert first["config"]["runtime"]["quant"] == "auto" and 0 < first["model"]["estimated_memory_gb"] < 2
    assert "quant none (auto), dtype" in err and "GB of RAM on cpu" in err
    assert first["config"]["model"]["repo"] == str(tiny_model_dir)
    assert data[1]["sampling"]["keyframes"] == 2 and data[1]["sampling"]["motion_frames"] == 12
    assert "Loading" in err


@pytest.mark.usefixtures("reuse_tiny_scorer")  # output and gate tests: one loaded scorer
def test_every_format_gives_the_same_scores(tiny_model_dir, clip, capsys):
    outs = {}
    for fmt in ("table", "jsonl", "csv"):
        code, outs[fmt], _ = run(["score", str(clip), "-m", str(tiny_model_dir), "-f", fmt, "-q"], capsys)
        assert code == 0
    jsonl = json.loads(outs["jsonl"].splitlines()[0])
    row = next(csv.DictReader(io.StringIO(outs["csv"])))
    assert tuple(row) == SCORE_COLUMNS
    assert float(row["score"]) == pytest.approx(jsonl["score"])
    assert outs["table"].splitlines()[1].startswith(f"{jsonl['score']:.4f}")


@pytest.mark.usefixtures("reuse_tiny_scorer")  # output and gate tests: one loaded scorer
def test_fail_under_gate(tiny_model_dir, clip, capsys):
    code, out, _ = run(
        ["score", str(clip), "-m", str(tiny_model_dir), "-f", "jsonl", "--fail-under", "0"], capsys
    )
    assert code == 0
    score = json.loads(out)["score"]
    code, _, err = run(
        [
            "score",
            str(clip),
            "-m",
            str(tiny_model_dir),
            "-f",
            "jsonl",
            "--fail-under",
            str(min(1.0, score + 1e-3)),
        ],
        capsys,
    )
    assert code == 1 and "below --fail-under" in err
    code, table, err = run(
        ["score", str(clip), "-m", str(tiny_model_dir), "--fail-under", str(min(1.0, score + 1e-3))], capsys
    )  # the table marks the file below the gate
    assert code == 1 and table.splitlines()[0].split()[-2:] == ["GATE", "FILE"], err
    assert table.splitlines()[1].endswith(f"  FAIL  {clip}")
    code, table, _ = run(["score", str(clip), "-m", str(tiny_model_dir), "--fail-under", "0"], capsys)
    assert code == 0 and table.splitlines()[1].endswith(f"  pass  {clip}")


@pytest.mark.usefixtures("reuse_tiny_scorer")  # output and gate tests: one loaded scorer
def test_unreadable_input_exit_3_keeps_other_results(tiny_model_dir, clip, tmp_path, capsys):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(5000))
    code, out, err = run(
        [
            "score",
            str(tmp_path / "missing.mp4"),
            str(junk),
            str(clip),
            "-m",
            str(tiny_model_dir),
            "-f",
            "json",
        ],
        capsys,
    )
    assert code == 3
    data = json.loads(out)
    assert [d["status"] for d in data] == ["error", "error", "ok"]
    assert data[0]["error"]["code"] == "file_missing"
    assert err.count("Error: ") == 2 and "missing.mp4" in err and "junk.mp4" in err


def test_inputs_checked_before_weights_load(tmp_path, capsys):
    # The default model is the published checkpoint; a missing file must not even try to fetch it.
    code, out, err = run(["score", str(tmp_path / "typo.mp4"), "-f", "json"], capsys)
    assert code == 3 and "Loading" not in err and json.loads(out)[0]["status"] == "error"


def test_usage_errors_exit_2(tiny_model_dir, clip, capsys):
    assert run(["score", str(clip), "-m", "ugc-scorr"], capsys)[0] == 2
    assert run(["score", str(clip), "-m", str(tiny_model_dir), "-f", "xml"], capsys)[0] == 2
    assert run(["score", str(clip), "-m", str(tiny_model_dir), "--quant", "3bit"], capsys)[0] == 2
    code, _, err = run(["score", str(clip), "--bogus"], capsys)
    assert code == 2 and "bogus" in err
    # stalling text exists only in the streaming prompt: refused for a UGC prompt, never silently dropped
    code, _, err = run(["score", str(clip), "-m", str(tiny_model_dir), "--stalling", "0011"], capsys)
    assert code == 2 and "needs the 'streaming' prompt" in err and "ugc_init" in err
    code, _, err = run(
        [
            "score",
            str(clip),
            "-m",
            str(tiny_model_dir),
            "--prompt",
            "streaming",
            "--stalling",
            "0011",
            "--stalling-style",
            "events",
        ],
        capsys,
    )
    assert code == 2 and "unknown --stalling-style 'events'" in err


def test_default_model_offline_without_cache_says_how(clip, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = run(["score", str(clip)], capsys)
    assert code == 4
    assert "offline" in err.lower() and err.count("\n") == 2  # "Loading ..." + one error line


def test_ask_json_and_streamed_table(tiny_model_dir, clip, capsys):
    args = [
        "ask",
        str(clip),
        "Is there stutter?",
        "--question",
        "Is it sharp?",
        "-q",
        "-m",
        str(tiny_model_dir),
        "--max-new-tokens",
        "5",
    ]
    code, out, _ = run(args + ["-f", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert [d["question"] for d in data] == ["Is there stutter?", "Is it sharp?"]
    assert all(d["schema"] == "vqa2.answer/1" and isinstance(d["answer"], str) for d in data)
    assert data[0]["generation"]["do_sample"] is False and data[0]["generation"]["new_tokens"] <= 5
    code, table, _ = run(args, capsys)
    assert code == 0 and table.startswith("Q: Is there stutter?\nA: ")
    # greedy decoding: the streamed answer equals the JSON answer
    assert table.split("\nA: ")[1].split("\n")[0].strip() == data[0]["answer"]


def test_level_word_split_tokenizer_refused(tmp_path, clip, capsys):
    from tiny_checkpoint import write_tiny_official_checkpoint

    folder = write_tiny_official_checkpoint(tmp_path / "split", split_fair=True)
    code, _, err = run(["score", str(clip), "-m", str(folder)], capsys)
    assert code == 2 and "' fair'" in err and "not one" in err and err.count("Error:") == 1, err


def test_one_line_error_and_debug_traceback(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("video:\n  motoin_size: 3\n")
    code, _, err = run(["probe", str(bad), "--config", str(bad)], capsys)
    assert code == 2 and err.strip().count("\n") == 0 and "did you mean 'motion_size'" in err
    monkeypatch.setenv("VQA2_DEBUG", "1")
    code, _, err = run(["probe", str(bad), "--config", str(bad)], capsys)
    assert code == 2 and "Traceback" in err


@pytest.mark.parametrize("quant", ["8bit", "4bit"])
def test_quantized_scoring_on_cpu_is_recorded(tiny_model_dir, clip, quant, capsys):
    code, out, err = run(
        ["score", str(clip), "-m", str(tiny_model_dir), "-f", "jsonl", "--quant", quant], capsys
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["model"]["quant"] == quant and record["config"]["runtime"]["quant"] == quant
    assert 0.0 <= record["score"] <= 1.0


def test_temperature_without_sampling_is_refused_not_ignored(tiny_model_dir, clip, capsys):
    code, out, err = run(
        ["ask", str(clip), "Is it sharp?", "-m", str(tiny_model_dir), "--temperature", "0.9"], capsys
    )
    assert code == 2 and "--temperature only applies when sampling" in err and out == ""
    assert "Loading" not in err  # refused before the weights load


def test_server_client_table_marks_the_gate(clip, monkeypatch, capsys):
    """`score --server URL --fail-under X`: the client's table marks the file as the local run does (a
    stand-in server answers a record scored 0.4)."""
    from vqa2cli.config import Settings
    from vqa2cli.records.results import ScoreRecord
    from vqa2cli.remote import scorers as remote

    answer = ScoreRecord(
        path=str(clip),
        score=0.4,
        level="fair",
        input={"duration_s": 1.0},
        sampling={"keyframes": 2, "motion_frames": 8},
        timing={"infer_s": 0.1},
    ).to_dict()

    class Client:
        url = "http://stand-in"

        def score(self, path, options, send_path=False):
            return json.loads(json.dumps(answer))

        def close(self):
            pass

    monkeypatch.setattr(remote, "connect", lambda urls, task, options: ([Client()], Settings()))
    for limit, code_wanted, mark in (("0.5", 1, "FAIL"), ("0.3", 0, "pass")):
        code, out, err = run(
            ["score", str(clip), "--server", "http://stand-in", "-q", "--fail-under", limit], capsys
        )
        assert code == code_wanted and out.splitlines()[1].endswith(f"  {mark}  {clip}"), (out, err)
