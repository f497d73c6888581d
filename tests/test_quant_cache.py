"""The quantized-weights cache (modeling/quant_cache.py) on the tiny model: identical scores from a cached
load, stale entries rebuilt, an unwritable cache a warning, the setting and the flag, what stays mapped."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from cli_run import run
from test_quant import _score_logits

from vqa2cli.config import Settings
from vqa2cli.modeling import quant_cache
from vqa2cli.modeling.loading import load_model

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    """An empty cache folder of this test's own."""
    folder = tmp_path / "quantized"
    monkeypatch.setenv(quant_cache.CACHE_ENV, str(folder))
    return folder


def _settings(quant: str, cache: bool = True) -> Settings:
    return Settings().replace(runtime={"device": "cpu", "quant": quant, "quant_cache": cache})


def _entries(folder: Path) -> list[Path]:
    return (
        sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        if folder.exists()
        else []
    )


@pytest.fixture(scope="module")
def fresh(tiny_model_dir):
    """Logits of a fresh quantization (cache off) per quant: what every cached load must reproduce exactly."""
    return {
        q: _score_logits(load_model(tiny_model_dir, _settings(q, cache=False)).model)
        for q in ("4bit", "8bit")
    }


@pytest.mark.parametrize("quant", ["4bit", "8bit"])
def test_cached_load_is_bit_identical_to_a_fresh_quantization(tiny_model_dir, cache_dir, fresh, quant):
    written = load_model(tiny_model_dir, _settings(quant))
    assert written.quant_cache == "written" and not any(n.startswith("Warning") for n in written.notes)
    assert len(_entries(cache_dir)) == 1 and str(_entries(cache_dir)[0]) in written.notes[0]
    hit = load_model(tiny_model_dir, _settings(quant))
    assert hit.quant_cache == "hit" and hit.notes == ()
    assert (
        type(hit.model.model.language_model.layers[0].mlp.up_proj).__name__
        == type(written.model.model.language_model.layers[0].mlp.up_proj).__name__
    )
    for loaded in (written, hit):
        assert torch.equal(_score_logits(loaded.model), fresh[quant])


def test_level_probabilities_identical_from_the_cache(tiny_model_dir, cache_dir, make_clip):
    from vqa2cli.pipeline.run import Scorer

    clip = make_clip("qcache-clip", seconds=1, fps=8)
    probs = {}
    for label, cache in (("fresh", False), ("written", True), ("hit", True)):
        settings = _settings("4bit", cache)
        loaded = load_model(tiny_model_dir, settings)
        assert loaded.quant_cache == ("off" if label == "fresh" else label)
        probs[label] = Scorer(settings, loaded).score(str(clip)).probs
    assert probs["fresh"] == probs["written"] == probs["hit"] and len(probs["hit"]) == 5


def _truncate(entry: Path) -> None:
    shard = next(entry.glob("*.safetensors"))
    with open(shard, "r+b") as fh:
        fh.truncate(shard.stat().st_size // 2)


def _zero_header(entry: Path) -> None:  # same size, unreadable header
    shard = next(entry.glob("*.safetensors"))
    with open(shard, "r+b") as fh:
        fh.write(b"\xff" * 64)


def _drop_manifest(entry: Path) -> None:
    (entry / quant_cache.MANIFEST).unlink()


def _drop_config(entry: Path) -> None:
    (entry / "config.json").unlink()


def _foreign_manifest(entry: Path) -> None:
    path = entry / quant_cache.MANIFEST
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "key": "0" * 32}))


@pytest.mark.parametrize("damage", [_truncate, _zero_header, _drop_manifest, _drop_config, _foreign_manifest])
def test_stale_or_corrupt_entry_is_rebuilt_with_a_warning(tiny_model_dir, cache_dir, fresh, damage):
    load_model(tiny_model_dir, _settings("4bit"))
    (entry,) = _entries(cache_dir)
    damage(entry)
    rebuilt = load_model(tiny_model_dir, _settings("4bit"))
    assert rebuilt.quant_cache == "written"
    assert any(
        n.startswith("Warning: quantized-weights cache entry") and "rebuilding" in n for n in rebuilt.notes
    )
    assert torch.equal(_score_logits(rebuilt.model), fresh["4bit"])
    assert quant_cache.check_entry(entry, entry.name) is None  # a complete entry again
    assert load_model(tiny_model_dir, _settings("4bit")).quant_cache == "hit"


def test_changed_checkpoint_is_a_new_entry(tiny_model_dir, cache_dir, tmp_path):
    source = Path(shutil.copytree(tiny_model_dir, tmp_path / "copy"))
    assert load_model(source, _settings("8bit")).quant_cache == "written"
    shard = sorted(source.glob("*.safetensors"))[0]
    os.utime(shard, ns=(shard.stat().st_atime_ns, shard.stat().st_mtime_ns + 10**9))  # "re-downloaded"
    assert load_model(source, _settings("8bit")).quant_cache == "written"
    assert len(_entries(cache_dir)) == 2


def _blocked_by_a_file(cache_dir: Path) -> None:
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    cache_dir.write_text("not a folder")  # mkdir fails even for root, unlike a chmod


def _disk_full_while_writing(monkeypatch):
    import errno

    import transformers.modeling_utils as hf_modeling  # the name save_pretrained writes its shards with

    def full(tensors, filename, *args, **kwargs):
        Path(filename).write_bytes(b"\0" * 1000)  # part of a shard, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(hf_modeling, "safe_save_file", full)


@pytest.mark.parametrize("case", ["read-only", "disk full while writing", "too little free space"])
def test_unwritable_cache_is_a_warning_and_the_uncached_load(
    tiny_model_dir, cache_dir, fresh, monkeypatch, case
):
    if case == "read-only":
        _blocked_by_a_file(cache_dir)
    elif case == "disk full while writing":
        _disk_full_while_writing(monkeypatch)
    else:
        monkeypatch.setattr(
            quant_cache.shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(10**9, 10**9, 1000)
        )
    loaded = load_model(tiny_model_dir, _settings("4bit"))
    assert loaded.quant_cache == "failed"
    assert any(n.startswith("Warning: cannot write the quantized-weights cache") for n in loaded.notes), (
        loaded.notes
    )
    assert torch.equal(_score_logits(loaded.model), fresh["4bit"])
    if cache_dir.is_dir():  # nothing half-written is left behind
        assert [p.name for p in cache_dir.iterdir() if not p.name.endswith(".lock")] == []


def test_off_writes_nothing(tiny_model_dir, cache_dir):
    loaded = load_model(tiny_model_dir, _settings("8bit", cache=False))
    assert loaded.quant_cache == "off" and loaded.notes == ()
    assert not cache_dir.exists()
    assert load_model(tiny_model_dir, _settings("none")).quant_cache is None


def test_the_setting_is_checked_like_the_others():
    from vqa2cli.errors import ConfigError

    assert Settings().runtime.quant_cache is True
    with pytest.raises(ConfigError, match="runtime.quant_cache' must be true or false"):
        Settings().replace(runtime={"quant_cache": "no"})


def test_flag_reaches_the_record_and_stderr(tiny_model_dir, cache_dir, make_clip, capsys):
    clip = make_clip("qcache-cli", seconds=1, fps=8)
    base = ["score", str(clip), "-m", str(tiny_model_dir), "--device", "cpu", "--quant", "8bit", "-f", "json"]
    states = []
    for extra in (["--no-quant-cache"], [], ["--quant-cache"]):
        code, out, err = run(base + extra, capsys)
        assert code == 0, err
        states.append(json.loads(out)[0]["model"]["quant_cache"])
        if not extra:
            assert f"quantized weights cached in {cache_dir}" in err
    assert states == ["off", "written", "hit"]
    code, _out, err = run(base + ["--no-quant-cache", "--server", "http://127.0.0.1:9"], capsys)
    assert code == 2 and "apply to a local load" in err


def _file_mapped(ptr: int, folder: Path) -> bool:
    for line in Path("/proc/self/maps").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[5].startswith(str(folder)):
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if lo <= ptr < hi:
                return True
    return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="mappings are read from /proc")
@pytest.mark.parametrize("quant,after_forward", [("8bit", True), ("4bit", False)])
def test_what_a_cached_load_leaves_mapped_matches_the_estimate(
    tiny_model_dir, cache_dir, quant, after_forward
):
    """memory.MAPPED_WHEN_CACHED: quantized weights stay views of the cache file after the load; the CPU
    4-bit kernel repacks them into new memory at the first forward, int8 weights stay mapped."""
    from vqa2cli.modeling.memory import MAPPED_WHEN_CACHED

    written = load_model(tiny_model_dir, _settings(quant))
    hit = load_model(tiny_model_dir, _settings(quant))
    layer = hit.model.model.language_model.layers[0].mlp.up_proj
    assert _file_mapped(layer.weight.data_ptr(), cache_dir) and quant in MAPPED_WHEN_CACHED
    assert _file_mapped(hit.model.lm_head.weight.data_ptr(), cache_dir)  # unquantized bf16: mapped either way
    assert not _file_mapped(
        written.model.model.language_model.layers[0].mlp.up_proj.weight.data_ptr(), cache_dir
    )
    before, after = written.memory.estimate, hit.memory.estimate
    assert after.total == before.total and after.weights_anon < before.weights_anon
    _score_logits(hit.model)
    assert _file_mapped(layer.weight.data_ptr(), cache_dir) is after_forward


def test_preflight_holds_for_the_cached_load(wide_model_dir, cache_dir):
    """A cached load's estimate counts the quantized weights as mapped (almost no anonymous memory), a fresh
    load's as anonymous. Only the estimates are asserted: the measured RssAnon next to them moves with the
    machine's load and is printed by benchmarks/memory_estimate.py (benchmarks/RESULTS.md). In this process:
    the estimate is read from the load (shard headers, cache manifest), not from the process's memory."""
    got = {}
    for quant in ("4bit", "8bit"):
        for _ in range(2):
            loaded = load_model(wide_model_dir, _settings(quant))
            estimate = loaded.memory.estimate
            got[(quant, loaded.quant_cache)] = {
                "anon": estimate.weights_anon,
                "total": estimate.weights_anon + estimate.weights_mapped,
            }
            del loaded
    assert set(got) == {("4bit", "written"), ("4bit", "hit"), ("8bit", "written"), ("8bit", "hit")}
    for quant in ("4bit", "8bit"):
        hit, written = got[(quant, "hit")], got[(quant, "written")]
        assert written["anon"] > 5e6 and hit["anon"] < 1e6, got  # fresh: anonymous; cached: mapped
        assert hit["total"] == pytest.approx(written["total"], rel=0.05), got  # the same weights, elsewhere
    assert got[("4bit", "written")]["anon"] < got[("8bit", "written")]["anon"]


def test_doctor_lists_the_entries_and_their_size(tiny_model_dir, cache_dir, capsys):
    code, out, _ = run(["doctor", "--device", "cpu", "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["hub"]["quant_cache"] == {
        "folder": str(cache_dir),
        "total_gb": 0,
        "entries": [],
    }
    for quant in ("8bit", "4bit"):
        load_model(tiny_model_dir, _settings(quant))
    code, out, _ = run(["doctor", "--device", "cpu", "--format", "json"], capsys)
    listed = json.loads(out)["hub"]["quant_cache"]["entries"]
    on_disk = {p.name: sum(f.stat().st_size for f in p.iterdir()) for p in _entries(cache_dir)}
    assert {e["key"]: e["size_bytes"] for e in listed} == on_disk
    assert sorted(e["quant"] for e in listed) == ["4bit", "8bit"]
    assert {e["source"] for e in listed} == {str(tiny_model_dir)}
    assert all(e["current"] for e in listed)
    code, out, _ = run(["doctor", "--device", "cpu"], capsys)
    assert f"quantized-weights cache: {cache_dir} (2 entries" in out
    assert all(f"  {key}: " in out for key in on_disk) and "stale" not in out


def test_doctor_marks_entries_whose_source_changed(tiny_model_dir, cache_dir, tmp_path, capsys):
    source = Path(shutil.copytree(tiny_model_dir, tmp_path / "copy"))
    load_model(source, _settings("8bit"))
    shutil.rmtree(source)
    code, out, _ = run(["doctor", "--device", "cpu", "--format", "json"], capsys)
    assert [e["current"] for e in json.loads(out)["hub"]["quant_cache"]["entries"]] == [False]
    code, out, _ = run(["doctor", "--device", "cpu"], capsys)
    assert "(stale: the source changed or is gone; delete the folder)" in out
