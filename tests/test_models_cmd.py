"""`vqa2 models list|pull|path`: help, formats, stdout/stderr split, exit codes, offline behaviour."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from vqa2cli.cli.models_cmd import register
from vqa2cli.errors import UsageError
from vqa2cli.registry import list_cards

REPO = "q-future/VQA-UGC-Scorer-llava_qwen"
SHA = "89abcdef0123456789abcdef0123456789abcdef"


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer(rich_markup_mode=None)

    @root.callback()
    def _root() -> None:
        """Test root."""

    register(root)
    return root


def vqa2(*args: str, hf_home: Path, offline_env: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(HF_HOME=str(hf_home), NO_COLOR="1", HF_ENDPOINT="http://127.0.0.1:9")
    if offline_env:
        env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "vqa2cli", "models", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _cache(hf_home: Path, source: Path) -> Path:
    root = hf_home / "hub" / ("models--" + REPO.replace("/", "--"))
    shutil.copytree(source, root / "snapshots" / SHA)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(SHA)
    return root / "snapshots" / SHA


def test_help_lists_the_three_commands_with_examples(app):
    runner = CliRunner()
    top = runner.invoke(app, ["models", "--help"])
    assert top.exit_code == 0
    for cmd in ("list", "pull", "path"):
        assert cmd in top.output
        sub = runner.invoke(app, ["models", cmd, "--help"])
        assert sub.exit_code == 0 and "Examples:" in sub.output and f"vqa2 models {cmd}" in sub.output


def test_unknown_list_format_is_a_usage_error(app):
    result = CliRunner().invoke(app, ["models", "list", "--format", "csv"])
    assert isinstance(result.exception, UsageError) and "table, json" in result.exception.fix


@pytest.mark.e2e
def test_list_json_on_an_empty_cache(tmp_path):
    out = vqa2("list", "--format", "json", hf_home=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["name"] for r in rows] == [c.name for c in list_cards()]
    assert {r["task"] for r in rows} <= {"score", "ask"} and all(r["repo"] for r in rows)
    assert not any(r["cached"] for r in rows) and all(r["path"] is None for r in rows)


@pytest.mark.e2e
def test_list_path_and_pull_with_a_cached_model(tmp_path, tiny_model_dir):
    snapshot = _cache(tmp_path, tiny_model_dir)
    table = vqa2("list", hf_home=tmp_path)
    assert table.returncode == 0
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["NAME", "TASK", "REPO", "REVISION", "SIZE", "CACHED"]
    by_name = {line.split()[0]: line.split() for line in lines}
    assert by_name["ugc-scorer"][-1] == "yes" and by_name["assistant"][-1] == "no"
    assert by_name["assistant"][-3:-1] == ["16.2", "GB"]  # the card's declared checkpoint size
    path = vqa2("path", "ugc-scorer", hf_home=tmp_path)
    assert path.returncode == 0 and path.stdout.strip() == str(snapshot) and path.stderr == ""
    pulled = vqa2("pull", REPO, hf_home=tmp_path)  # offline: served from the cache, path on stdout only
    assert pulled.returncode == 0 and pulled.stdout.strip() == str(snapshot)


@pytest.mark.e2e
def test_path_of_an_uncached_model_exits_4_with_a_hint(tmp_path):
    out = vqa2("path", "assistant", hf_home=tmp_path)
    assert out.returncode == 4 and out.stdout == ""
    assert out.stderr.startswith("Error:") and "vqa2 models pull assistant" in out.stderr


@pytest.mark.e2e
def test_path_of_an_uncached_model_names_the_real_cause(tmp_path):
    """Without HF_HUB_OFFLINE the cause is the empty cache, not "offline mode"; with it, the variable is named."""
    out = vqa2("path", "ugc-scorer", hf_home=tmp_path, offline_env=False)
    assert out.returncode == 4 and "offline" not in out.stderr.lower(), out.stderr
    assert "not in the local Hugging Face cache" in out.stderr and "vqa2 models pull ugc-scorer" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    out = vqa2("path", "ugc-scorer", hf_home=tmp_path)
    assert out.returncode == 4 and "HF_HUB_OFFLINE is set" in out.stderr, out.stderr


@pytest.mark.e2e
def test_unknown_model_name_exits_2_with_a_suggestion(tmp_path):
    out = vqa2("path", "ugc-scorr", hf_home=tmp_path)
    assert out.returncode == 2 and "ugc-scorer" in out.stderr and out.stdout == ""
