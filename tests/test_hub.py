"""fetch_weights through huggingface-hub's cache. huggingface-hub reads HF_HOME/HF_HUB_OFFLINE/HF_ENDPOINT once
at import, as in real use, so each case runs in a fresh interpreter with its own environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vqa2cli.config import Settings
from vqa2cli.errors import ModelNotFoundError
from vqa2cli.modeling.hub import ALLOW_PATTERNS, IGNORE_PATTERNS, fetch_weights
from vqa2cli.modeling.loading import load_model
from vqa2cli.registry import ModelRef, resolve_reference

REPO = "q-future/VQA-UGC-Scorer-llava_qwen"
SHA = "0123456789abcdef0123456789abcdef01234567"
UNREACHABLE = "http://127.0.0.1:9"  # discard port: connection refused at once

FETCH = """
import json, sys
from vqa2cli.errors import Vqa2Error
from vqa2cli.modeling.hub import fetch_weights
from vqa2cli.registry import resolve_reference
try:
    path = fetch_weights(resolve_reference(sys.argv[1], "score"), offline={offline})
    print(json.dumps({{"path": str(path)}}))
except Vqa2Error as exc:
    print(json.dumps({{"error": type(exc).__name__, "message": exc.message, "fix": exc.fix}}))
"""


def _fetch(name: str, hf_home: Path, *, offline_env: bool, endpoint: str = UNREACHABLE, offline=None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(HF_HOME=str(hf_home), HF_ENDPOINT=endpoint, HF_HUB_DISABLE_TELEMETRY="1")
    if offline_env:
        env["HF_HUB_OFFLINE"] = "1"
    out = subprocess.run(
        [sys.executable, "-c", FETCH.format(offline=offline), name],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def fake_cache(hf_home: Path, source: Path, repo: str = REPO, sha: str = SHA) -> Path:
    """The on-disk layout of huggingface-hub's cache: refs/main → sha, snapshots/<sha>/files."""
    root = hf_home / "hub" / ("models--" + repo.replace("/", "--"))
    snapshot = root / "snapshots" / sha
    shutil.copytree(source, snapshot)
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(sha)
    return snapshot


@pytest.mark.e2e
def test_offline_with_an_empty_cache_says_how_to_work_offline(tmp_path):
    got = _fetch("ugc-scorer", tmp_path, offline_env=True)
    assert got["error"] == "HubError"
    assert REPO in got["message"] and "offline mode is on" in got["message"]
    for hint in ("vqa2 models pull ugc-scorer", "HF_HUB_OFFLINE=1", "--model /path"):
        assert hint in got["fix"]


@pytest.mark.e2e
def test_unreachable_hub_without_cache_is_a_hub_error(tmp_path):
    got = _fetch("q-future/VQA-Assistant-llava_qwen", tmp_path, offline_env=False)
    assert got["error"] == "HubError" and "cannot be reached" in got["message"]
    assert "vqa2 models pull assistant" in got["fix"]


@pytest.mark.e2e
def test_cached_snapshot_is_found_offline_and_loads(tmp_path, tiny_model_dir):
    snapshot = fake_cache(tmp_path, tiny_model_dir)
    got = _fetch("ugc-scorer", tmp_path, offline_env=True)
    assert Path(got["path"]) == snapshot
    loaded = load_model(Path(got["path"]), Settings())
    assert (loaded.source, loaded.revision) == (REPO, SHA)


@pytest.mark.e2e
def test_cached_snapshot_is_used_when_the_hub_is_unreachable(tmp_path, tiny_model_dir):
    snapshot = fake_cache(tmp_path, tiny_model_dir)
    assert Path(_fetch(f"{REPO}@main", tmp_path, offline_env=False)["path"]) == snapshot


@pytest.mark.e2e
def test_offline_argument_forces_the_cache(tmp_path):
    got = _fetch("ugc-scorer", tmp_path, offline_env=False, offline=True)
    assert got["error"] == "HubError" and "offline mode is on" in got["message"]


@pytest.mark.e2e
def test_pinned_revision_must_be_cached(tmp_path, tiny_model_dir):
    fake_cache(tmp_path, tiny_model_dir)
    got = _fetch(f"{REPO}@{'f' * 40}", tmp_path, offline_env=True)
    assert got["error"] == "HubError"


def test_local_folder_refs_skip_the_hub(tiny_model_dir, tmp_path):
    ref = resolve_reference(str(tiny_model_dir), "score")
    assert fetch_weights(ref) == tiny_model_dir
    with pytest.raises(ModelNotFoundError):
        fetch_weights(ModelRef(None, str(tmp_path / "gone"), "local", tmp_path / "gone"))


def test_pickle_files_are_never_downloaded():
    from huggingface_hub.utils import filter_repo_objects

    repo_files = [
        "model-00001-of-00004.safetensors",
        "model.safetensors.index.json",
        "config.json",
        "generation_config.json",
        "vocab.json",
        "merges.txt",
        "tokenizer.json",
        "tokenizer_config.json",
        "added_tokens.json",
        "special_tokens_map.json",
        "trainer_state.json",
        "training_args.bin",
        "pytorch_model.bin",
        "slowfast.pth",
        "rng_state.pt",
        "optimizer.pt",
        "latest",
    ]
    kept = set(
        filter_repo_objects(repo_files, allow_patterns=ALLOW_PATTERNS, ignore_patterns=IGNORE_PATTERNS)
    )
    assert not {f for f in kept if f.endswith((".bin", ".pt", ".pth"))}
    assert {"model-00001-of-00004.safetensors", "vocab.json", "merges.txt", "tokenizer_config.json"} <= kept
