"""vqa2 verify on the tiny model: a re-run on the same machine and precision gives Δ = 0, fp32 vs bf16 a
stable non-zero Δ that fails a tolerance tightened below it; golden files refused when newer, corrupt or
edited; an unreadable clip exits 3; --card's golden-file mechanism; the API answers the same."""

import json
import shutil

import pytest

import vqa2cli
from vqa2cli.cli.app import main


def run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


@pytest.fixture(scope="module")
def golden(tiny_model_dir, make_clip, tmp_path_factory):
    root = tmp_path_factory.mktemp("golden")
    clips = []
    for i, (w, fps) in enumerate(((32, 4), (48, 6), (40, 5))):
        clip = root / f"g{i}.mp4"
        shutil.copy(make_clip(f"golden-{i}.mp4", seconds=1.0, fps=fps, width=w, height=32), clip)
        clips.append(str(clip))
    path = root / "golden.json"
    body = vqa2cli.record_golden(clips, str(path), model=str(tiny_model_dir), dtype="fp32", device="cpu")
    assert body["n_clips"] == 3 and path.is_file()
    return path, clips


def test_same_machine_same_precision_is_delta_zero(golden, capsys):
    path, _ = golden
    code, out, err = run(["verify", str(path), "-f", "json"], capsys)
    body = json.loads(out)
    assert code == 0, err
    (r,) = body["runs"]
    assert (
        r["max_abs_delta"] == 0
        and r["tolerance"] == 1e-6
        and r["srcc"] in (1.0, None)
        and not r["flipped_pairs"]
    )
    assert r["differences"] == [] and all(c["delta"] == 0 for c in r["clips"])
    stored = json.loads(path.read_text())
    assert (
        stored["model"]["weights"]
        and stored["environment"]["torch"]
        and stored["precision"]["dtype"] == "fp32"
    )


def test_bf16_delta_is_stable_and_a_tighter_tolerance_fails(golden, capsys):
    path, clips = golden
    first = vqa2cli.verify_golden(str(path), dtype="bf16")
    again = vqa2cli.verify_golden(str(path), dtype="bf16")
    delta = first["runs"][0]["max_abs_delta"]
    assert delta > 0 and again["runs"][0]["max_abs_delta"] == delta  # non-zero and stable
    assert first["runs"][0]["tolerance"] == 0.03 and first["passed"]
    assert any(d.startswith("precision.dtype") for d in first["runs"][0]["differences"])
    code, out, err = run(["verify", str(path), "--dtype", "bf16", "--tolerance", str(delta / 2)], capsys)
    assert code == 1 and "beyond the tolerance" in err and "BEYOND TOLERANCE" in out
    code, out, _ = run(
        ["verify", "--precisions", "fp32,bf16", *clips, "-m", str(path.parent / "x"), "-f", "json"], capsys
    )
    assert code == 2  # not a model: refused in one line
    stored = json.loads(path.read_text())
    precisions = vqa2cli.compare_precisions(
        clips, ["fp32", "bf16"], model=stored["reference"]["model"], device="cpu"
    )
    assert precisions["runs"][0]["max_abs_delta"] == pytest.approx(delta, abs=2e-6)


def test_golden_refused_when_newer_corrupt_or_edited(golden, tmp_path, capsys):
    path, _ = golden
    body = json.loads(path.read_text())
    cases = {"newer": body | {"schema": "vqa2.golden/7"}, "edited": body | {"clips": body["clips"][:1]}}
    for name, content in cases.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(content))
    (tmp_path / "corrupt.json").write_text(path.read_text()[:40])
    for name, words in (("newer", "newer vqa2"), ("edited", "edited by hand"), ("corrupt", "not a readable")):
        code, out, err = run(["verify", str(tmp_path / f"{name}.json")], capsys)
        assert code == 2 and words in err and out == "" and len(err.strip().splitlines()) <= 2


def test_unreadable_clip_exits_3_and_a_moved_folder_still_verifies(golden, tmp_path, capsys):
    path, clips = golden
    body = json.loads(path.read_text())
    assert [c["path"] for c in body["clips"]] == ["g0.mp4", "g1.mp4", "g2.mp4"]  # relative to the golden file
    moved = tmp_path / "moved"
    shutil.copytree(path.parent, moved)
    code, out, err = run(["verify", str(moved / "golden.json")], capsys)
    assert code == 0 and "max |Δ| 0.000000" in out, err
    (moved / "g2.mp4").unlink()
    code, out, err = run(["verify", str(moved / "golden.json")], capsys)
    assert code == 3 and "could not be read" in err and "ERROR" in out and "g2.mp4" in out
    assert "g2.mp4: no such file" in err  # each unreadable clip named with its reason
    code, out, err = run(["verify", str(moved / "golden.json"), "-f", "json"], capsys)
    (row,) = [c for c in json.loads(out)["runs"][0]["clips"] if c["current"] is None]
    assert row["path"] == "g2.mp4" and "no such file" in row["error"]


def test_a_local_model_folder_is_stored_absolute(tiny_model_dir, golden, tmp_path, monkeypatch, capsys):
    """``-m tiny`` typed in the model's parent folder must still load when verify runs from elsewhere."""
    path, clips = golden
    monkeypatch.chdir(tiny_model_dir.parent)
    target = tmp_path / "rel.json"
    vqa2cli.record_golden(clips[:2], str(target), model=tiny_model_dir.name, dtype="fp32", device="cpu")
    assert json.loads(target.read_text())["reference"]["model"] == str(tiny_model_dir.resolve())
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["verify", "rel.json"], capsys)
    assert code == 0, err


def test_record_names_a_bad_clip_once(golden, tmp_path, capsys):
    path, clips = golden
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 50)
    stored = json.loads(path.read_text())["reference"]["model"]
    code, _, err = run(["verify", "--record", str(tmp_path / "b.json"), str(bad), "-m", stored], capsys)
    assert code == 3 and err.count("bad.mp4") == 1, err


def test_precisions_table_names_its_columns_and_has_no_infinite_tolerance(golden, capsys):
    path, clips = golden
    stored = json.loads(path.read_text())["reference"]["model"]
    code, out, err = run(["verify", "--precisions", "fp32,bf16", *clips, "-m", stored], capsys)
    assert code == 0, err
    assert "FP32" in out and "BF16" in out and "RECORDED" not in out and "inf" not in out
    body = vqa2cli.compare_precisions(clips, ["fp32", "bf16"], model=stored, device="cpu")
    assert body["runs"][0]["tolerance"] is None and body["passed"]
    json.dumps(body, allow_nan=False)  # valid JSON: no Infinity


def test_verify_numbers_are_rounded_to_6_decimals():
    from vqa2cli.verify.compare import compare

    out = compare(["a", "b", "c"], [0.1, 0.2, 0.3], [0.1000000001, 0.2, 0.31])
    assert out["srcc"] == 1.0 and out["clips"][0]["current"] == 0.1


def test_card_golden_file_mechanism(golden, tmp_path, monkeypatch, capsys):
    path, _ = golden
    shutil.copy(path, tmp_path / "tiny-card.golden.json")
    monkeypatch.setenv("VQA2_GOLDEN_DIR", str(tmp_path))
    code, out, err = run(["verify", "--card", "tiny-card", "--media-root", str(path.parent)], capsys)
    assert code == 0 and "max |Δ| 0.000000" in out, err
    code, _, err = run(["verify", "--card", "ugc-scorer"], capsys)
    assert code == 2 and "has no golden file yet" in err
