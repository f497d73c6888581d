"""The Python API: the README example runs as written (models and clip swapped for test fixtures),
and `import vqa2cli` stays light."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "docs" / "python-api.md"
PLACEHOLDERS = ('"ugc-scorer"', '"assistant"', '"clip.mp4"')


def readme_example() -> str:
    section = README.read_text(encoding="utf-8")
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_api_example_runs(tiny_model_dir, make_clip, tmp_path, monkeypatch):
    code = readme_example()
    clip = make_clip("api-clip", seconds=1, fps=8)
    for placeholder in PLACEHOLDERS:
        assert placeholder in code, placeholder  # the substitution below must not silently do nothing
    model = repr(str(tiny_model_dir))
    code = (
        code.replace('"ugc-scorer"', model)
        .replace('"assistant"', model)
        .replace('"clip.mp4"', repr(str(clip)))
    )
    monkeypatch.chdir(tmp_path)  # "missing.mp4" is missing here
    out = io.StringIO()
    scope: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md#python-api", "exec"), scope)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"{clip} ok 0.") and lines[1] == "missing.mp4 error None None"
    assert scope["row"]["schema"] == "vqa2.score/1" and scope["row"]["status"] == "error"
    assert scope["record"].status == "ok" and 0.0 <= scope["record"].score <= 1.0
    answers = scope["answers"]
    assert [a.question for a in answers] == ["Is there stutter?", "How sharp is it?"]
    assert all(a.to_dict()["schema"] == "vqa2.answer/1" for a in answers)
    assert answers[0].generation["max_new_tokens"] == 64
    assert lines[2].startswith("Is there stutter? -> ")


def test_api_gives_the_records_the_cli_prints(tiny_model_dir, make_clip, capsys):
    """`vqa2 score --format json` and `load_scorer(...).score` agree on everything but the timings and the
    memory estimate made at load time (the CLI sizes it for its inputs, the API for a reference clip)."""
    import json

    import vqa2cli
    from vqa2cli.cli.app import main

    clip = make_clip("api-clip", seconds=1, fps=8)
    record = vqa2cli.load_scorer(str(tiny_model_dir), device="cpu").score(clip).to_dict()
    with pytest.raises(SystemExit) as done:
        main(["score", str(clip), "-m", str(tiny_model_dir), "--device", "cpu", "-f", "json", "-q"])
    assert done.value.code == 0
    printed = json.loads(capsys.readouterr().out)[0]
    for d in (record, printed):
        d.pop("timing")
        d["model"].pop("estimated_memory_gb")
    assert printed == record


def test_assistant_prompt_is_refused_as_scorer(tiny_model_dir):
    import vqa2cli
    from vqa2cli.errors import UsageError

    with pytest.raises(UsageError, match="not a scoring prompt"):
        vqa2cli.load_scorer(str(tiny_model_dir), settings={"model": {"prompt": "assistant"}})


@pytest.mark.e2e
def test_import_is_light():
    code = (
        "import sys, vqa2cli; vqa2cli.load_scorer; vqa2cli.ScoreRecord; "
        "print(sorted(m for m in ('torch', 'transformers', 'av', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_shared_scorer_is_what_the_cli_loads(tiny_scorer, reuse_tiny_scorer, tiny_model_dir):
    """The conftest shortcut only applies when a command resolves exactly the shared scorer's settings."""
    from vqa2cli.cli.options import scoring_settings
    from vqa2cli.pipeline.run import Scorer

    settings, ref = scoring_settings(
        "score",
        str(tiny_model_dir),
        None,
        prompt=None,
        device=None,
        dtype=None,
        quant=None,
        max_motion_frames=None,
        long_clip=None,
    )
    assert Scorer.load(settings, ref) is tiny_scorer
    other = settings.replace(video={"max_motion_frames": 16})
    assert Scorer.load(other, ref) is not tiny_scorer
