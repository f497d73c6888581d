"""`vqa2 doctor` (in this process, against a Hugging Face cache of its own, offline): the JSON schema (docs/commands.md
"vqa2 doctor"), a cached model's verdict, the table form."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from vqa2cli.registry import list_cards

REPO = "q-future/VQA-UGC-Scorer-llava_qwen"
SHA = "0123456789abcdef0123456789abcdef01234567"
ROOT = Path(__file__).resolve().parent.parent
SCHEMA = {  # key → type of every field README documents
    "schema": str,
    "versions": dict,
    "system": dict,
    "cuda": dict,
    "bitsandbytes": dict,
    "hub": dict,
    "device": str,
    "models": list,
    "explain": dict,
}


def doctor(hf_home: Path, *args: str, **env_extra: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `vqa2 doctor --device cpu ARGS` run in this process (tests/cli_run.py's
    way, the command's own exit mapping) against the Hugging Face cache ``hf_home``, offline: the library's
    cache folder and offline flag (read at import from HF_HOME / HF_HUB_OFFLINE) are set for the call, then
    restored, as are ``env_extra``."""
    import contextlib
    import io

    from huggingface_hub import constants

    from vqa2cli.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith(("HF_", "TRANSFORMERS_"))]:
            mp.delenv(key)
        for key, value in {
            "HF_HOME": str(hf_home),
            "HF_HUB_OFFLINE": "1",
            "NO_COLOR": "1",
            **env_extra,
        }.items():
            mp.setenv(key, value)
        mp.setattr(constants, "HF_HOME", str(hf_home))
        mp.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
        mp.setattr(constants, "HF_HUB_OFFLINE", True)
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            pytest.raises(SystemExit) as exc,
        ):
            main(["doctor", "--device", "cpu", *args])
    return exc.value.code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def report(tmp_path_factory, tiny_model_dir):
    hf_home = tmp_path_factory.mktemp("hf")
    root = hf_home / "hub" / ("models--" + REPO.replace("/", "--"))
    shutil.copytree(tiny_model_dir, root / "snapshots" / SHA)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(SHA)
    code, out, err = doctor(hf_home, "--format", "json")
    assert code == 0, err
    return json.loads(out), hf_home


def test_json_schema(report):
    data, hf_home = report
    assert {k: type(v) for k, v in data.items()} == SCHEMA and data["schema"] == "vqa2.doctor/1"
    v = data["versions"]
    for key in ("vqa2", "python", "torch", "transformers", "av", "bitsandbytes", "accelerate"):
        assert isinstance(v[key], str) and v[key][0].isdigit(), key
    assert isinstance(v["ffmpeg"], dict) and "libavcodec" in v["ffmpeg"]
    s = data["system"]
    assert isinstance(s["cpu_bf16"], bool) and s["cpu_count"] >= 1
    assert 0 < s["ram_available_gb"] <= s["ram_total_gb"]
    assert isinstance(data["cuda"]["available"], bool) and isinstance(data["cuda"]["devices"], list)
    assert data["bitsandbytes"]["cpu"] == {"works": True, "error": None}
    assert data["hub"]["offline"] is True and data["hub"]["cache"] == str(hf_home / "hub")
    assert data["device"] == "cpu"
    assert [m["name"] for m in data["models"]] == [c.name for c in list_cards()]


def test_cached_model_gets_a_verdict_from_its_shards_the_others_from_their_cards(report):
    models = {m["name"]: m for m in report[0]["models"]}
    cached = models["ugc-scorer"]
    assert cached["cached"] and cached["path"].endswith(SHA) and cached["error"] is None
    p = cached["preflight"]
    assert p["verdict"] == "fits" and p["device"] == "cpu" and p["memory"] == "RAM"
    assert set(p["estimates_gb"]) == {"none", "8bit", "4bit"} and all(
        x > 0 for x in p["estimates_gb"].values()
    )
    assert p["estimates_gb"]["4bit"] <= p["estimates_gb"]["none"] and p["tokens"] > 2000
    same_repo = {n for n, m in models.items() if m.get("repo") == cached.get("repo")}  # e.g. ugc-scorer-paper
    assert "streaming-scorer" in models and "streaming-scorer" not in same_repo
    assert all(
        m["cached"] and m["preflight"]["source"] == "shards" for n, m in models.items() if n in same_repo
    )
    # not downloaded: judged from the card's declared checkpoint (modeling/architectures.py), offline
    assert all(
        m["preflight"]["source"] == "card" and not m["cached"] and m["size_bytes"] > 16e9
        for n, m in models.items()
        if n not in same_repo
    )


@pytest.fixture(scope="module")
def short_of_memory(report) -> tuple[float, str]:
    """(figure, table): the table form of the report with VQA2_FAKE_AVAILABLE_MEMORY_GB at half the cached
    model's smallest estimate (one process for the two tests below)."""
    data, hf_home = report
    est = {m["name"]: m for m in data["models"]}["ugc-scorer"]["preflight"]["estimates_gb"]
    figure = round(min(est.values()) / 2, 2)
    code, table, err = doctor(hf_home, VQA2_FAKE_AVAILABLE_MEMORY_GB=str(figure))
    assert code == 0, err
    return figure, table


def test_table_verdict_follows_the_available_memory(short_of_memory):
    _figure, table = short_of_memory
    assert "ugc-scorer: does not fit (none " in table and "bitsandbytes on cpu: works" in table
    assert "streaming-scorer: does not fit (" in table and table.startswith("versions: vqa2 ")
    assert "not cached (16.2 GB to download), judged from its card" in table


def test_fake_available_memory_shows_in_the_system_line_too(short_of_memory):
    """README: with VQA2_FAKE_AVAILABLE_MEMORY_GB the whole report (not only the verdicts) uses that figure."""
    figure, table = short_of_memory
    system = next(line for line in table.splitlines() if line.startswith("system: "))
    shown = re.search(r"RAM ([0-9.]+) GB available of ", system)
    assert shown and float(shown.group(1)) == figure, system
