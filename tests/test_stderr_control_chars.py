"""Control characters in file names never reach the terminal raw on stderr: ``Error:``/``Warning:``/info/debug
lines and the internal-error/interrupted lines show them as ``\\n``/``\\xNN`` (the tables' ``table_text``), so
one message is one line; the error message keeps the real name (JSON), never a name with CR/LF turned to spaces."""

from __future__ import annotations

import io
import json

import pytest
from cli_run import run

from vqa2cli.errors import CorruptContainerError, InputError
from vqa2cli.output.console import VERBOSE, Console
from vqa2cli.records.cells import table_text

NAMES = [
    "bad\x1b[31mred\rX.mp4",
    "sh\nort.mp4",
    "tab\tname.mp4",
    "c1\x85next.mp4",
    "sep\u2028line.mp4",
    "nul\x01del\x7f.mp4",
    "bell\x07\x9b2J.mp4",
]


def one_visible_line(text: str) -> bool:
    return text.endswith("\n") and len(text.splitlines()) == 1 and text[:-1].isprintable()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("level", ["error", "warning", "info", "debug"])
def test_console_line_escapes_names(name, level):
    buf = io.StringIO()
    getattr(Console(VERBOSE, buf), level)(f"{name}: something odd; timeline written to {name}.png")
    text = buf.getvalue()
    assert one_visible_line(text), repr(text)
    assert text.count(table_text(name)) == 2


@pytest.mark.parametrize("name", NAMES)
def test_input_error_keeps_the_real_name(name):
    exc = CorruptContainerError(name, "not a\nreadable   container", "re-export\tit")
    assert exc.one_line() == f"{name}: not a readable container (re-export it)"
    assert InputError(name, "x").path == name


@pytest.mark.parametrize("name", NAMES)
def test_cli_error_line_and_table_cell(name, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_bytes(b"junk, not a video")
    code, out, err = run(["probe", name], capsys)
    assert code == 3
    assert one_visible_line(err) and err.startswith(f"Error: {table_text(name)}: "), repr(err)
    cell = " ".join(line.strip() for line in out.splitlines()[1:])  # the table may fold the long message
    assert cell.count(table_text(name)) == 2 and "\x1b" not in out and "\r" not in out
    code, out, _ = run(["probe", name, "--format", "json"], capsys)
    record = json.loads(out)[0]
    assert record["path"] == name and record["error"].startswith(f"{name}: ")


def test_interrupted_and_internal_error_lines(capsys, monkeypatch):
    from vqa2cli.cli import app
    from vqa2cli.pipeline import interrupts

    monkeypatch.setattr(interrupts, "line", lambda: "interrupted: 0 of 1 files done; kept \x1b[2Jdir\nx")
    with pytest.raises(SystemExit):
        app._interrupted()
    assert one_visible_line(capsys.readouterr().err)
    with pytest.raises(SystemExit):
        app._handle_click(RuntimeError("boom in sh\nort\x1b.mp4"), debug=False)
    assert one_visible_line(capsys.readouterr().err)


def test_multi_line_notes_are_separate_console_lines():
    """The load note and the quantized-weights cache notes are separate messages: each its own stderr line
    (not one line with a visible ``\\n`` now that a message's control characters are escaped)."""
    from types import SimpleNamespace

    from vqa2cli.pipeline.run import ModelSession

    loaded = SimpleNamespace(
        memory=SimpleNamespace(note="quant 8bit, dtype bf16: estimated 1 GB"),
        notes=("quantized weights cached in /c", "Warning: cache x"),
    )
    session = ModelSession.__new__(ModelSession)
    session.loaded = loaded
    assert session.memory_lines == [
        "quant 8bit, dtype bf16: estimated 1 GB",
        "quantized weights cached in /c",
        "Warning: cache x",
    ]
    assert session.memory_note == "\n".join(session.memory_lines)
