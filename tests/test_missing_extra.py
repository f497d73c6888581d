"""`vqa2 serve` and the `--server` client without the `serve` extra: one line naming `pip install
'vqa2cli[serve]'`, exit 2 (vqa2cli/extras.py), never "internal error ... report it"."""

from __future__ import annotations

import sys

import pytest
from cli_run import run

from vqa2cli.extras import MissingExtraError, missing_extra


@pytest.fixture
def no_serve_extra(monkeypatch):
    """Imports of the serve extra's modules fail as they do when it is not installed."""
    for name in (
        "fastapi",
        "uvicorn",
        "httpx",
        "starlette",
        "multipart",
        "python_multipart",
        "prometheus_client",
    ):
        monkeypatch.setitem(sys.modules, name, None)
    import vqa2cli.serve as package

    for name in [m for m in sys.modules if m.startswith("vqa2cli.serve.")]:
        short = name.rsplit(".", 1)[1]
        if getattr(package, short, None) is sys.modules[name]:  # a re-import would rebind it: restored after
            monkeypatch.setattr(package, short, sys.modules[name])
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delenv("VQA2_DEBUG", raising=False)


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--port", "0"],
        ["score", "{clip}", "--server", "http://127.0.0.1:9"],
        ["ask", "{clip}", "is it sharp?", "--server", "http://127.0.0.1:9"],
        ["batch", "{clip}", "--csv", "{out}", "--server", "http://127.0.0.1:9"],
    ],
)
def test_without_the_serve_extra_one_line_and_exit_2(no_serve_extra, args, tmp_path, capsys):
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"\x00" * 64)
    argv = [a.format(clip=clip, out=tmp_path / "o.csv") for a in args]
    code, out, err = run(argv, capsys)
    assert code == 2, err
    assert "pip install 'vqa2cli[serve]'" in err and "internal error" not in err
    assert err.count("Error:") == 1


def test_only_the_extras_modules_are_converted():
    assert missing_extra(ModuleNotFoundError("No module named 'numpy'", name="numpy")) is None
    err = missing_extra(RuntimeError("x").with_traceback(None))
    assert err is None
    wrapped = RuntimeError("client failed")
    wrapped.__cause__ = ModuleNotFoundError("No module named 'httpx'", name="httpx")
    found = missing_extra(wrapped)
    assert isinstance(found, MissingExtraError) and found.extra == "serve" and int(found.exit_code) == 2


def test_ask_help_describes_what_ask_does_past_the_limits():
    from click.testing import CliRunner
    from typer.main import get_command

    from vqa2cli.cli.app import app

    text = (
        CliRunner()
        .invoke(get_command(app), ["ask", "--help"], env={"NO_COLOR": "1", "COLUMNS": "200"})
        .output
    )
    text = " ".join(text.split())
    assert "score in windows and pool" not in text and "one forward" in text and "--segments asks" in text
