"""`vqa2 doctor`: the JSON schema (docs/commands.md "vqa2 doctor"), a cached model's verdict, the table form."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vqa2cli.registry import list_cards

pytestmark = pytest.mark.e2e  # `vqa2 doctor` in another process

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


def doctor(hf_home: Path, *args: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", NO_COLOR="1", PYTHONPATH=str(ROOT), **env_extra)
    return subprocess.run(
        [sys.executable, "-m", "vqa2cli", "doctor", "--device", "cpu", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory, tiny_model_dir):
    hf_home = tmp_path_factory.mktemp("hf")
    root = hf_home / "hub" / ("models--" + REPO.replace("/", "--"))
    shutil.copytree(tiny_model_dir, root / "snapshots" / SHA)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(SHA)
    run = doctor(hf_home, "--format", "json")
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout), hf_home


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
    table = doctor(hf_home, VQA2_FAKE_AVAILABLE_MEMORY_GB=str(figure))
    assert table.returncode == 0, table.stderr
    return figure, table.stdout


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
