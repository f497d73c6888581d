"""Every command of the `vqa2` app prints its JSON through the ONE writer registry (output/render.py), and the
keys are the ones README "Output schema" documents for that command.

The commands are enumerated from the typer app, so a new command fails here until it has a run below (it prints
records) or a reason in NO_RECORD (it prints none). Each run happens in-process (tests/cli_run.py) with the
registry's json/jsonl writers replaced by spies: stdout must be exactly what the spies wrote, so a command that
built its own ``json.dumps`` would fail.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click
import pytest
import typer
from cli_run import run

from vqa2cli.config import OUTPUT_FORMATS, REPORT_FORMATS
from vqa2cli.output import render

README = Path(__file__).resolve().parent.parent / "docs" / "output.md"  # the output guide

NO_RECORD = {  # commands that print no results (a reason each)
    "models pull": "prints the local folder of the weights it fetched",
    "models path": "prints the local folder of cached weights",
    "serve": "answers over HTTP (its bodies are the same records, tests/test_serve.py)",
    "report": "writes an HTML page to --html, nothing on stdout (tests/test_report.py, tests/test_report_browser.py)",
}


def commands() -> dict[str, click.Command]:
    """'name [sub]' → click command, for every leaf command of the app."""
    from vqa2cli.cli.app import app

    found: dict[str, click.Command] = {}

    def walk(command: click.Command, prefix: str) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{prefix} {name}".strip())
        else:
            found[prefix] = command

    walk(typer.main.get_command(app), "")
    return found


def offers_format(command: click.Command) -> bool:
    return any("--format" in getattr(p, "opts", ()) for p in command.params)


def documented_keys() -> dict[str, set[str]]:
    """README's per-command key table (the score row points at the field table above it)."""
    section = README.read_text(encoding="utf-8").split("## Output schema", 1)[1].split("\n## ", 1)[0]
    fields = {
        line.split("|")[1].strip().strip("`") for line in section.splitlines() if line.startswith("| `")
    }
    table = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) == 4 and cells[0] not in ("command", "---"):
            table[cells[0]] = (
                fields
                if "the fields of the table above" in cells[3]
                else set(re.findall(r"`([^`]+)`", cells[3]))
            )
    return table


@pytest.fixture
def spies(monkeypatch):
    """The registry's json and jsonl writers, recording every object they render on stdout (batch's row files
    go through the same writers, to their own streams)."""
    seen: list[dict] = []

    def spy(base):
        class Spy(base):
            def _write(self, record):
                if self.stream is sys.stdout:
                    seen.append({"fmt": self.name, "kind": self.record_type.kind, "dict": record.to_dict()})
                super()._write(record)

        return Spy

    for name in ("json", "jsonl"):
        monkeypatch.setitem(render.WRITERS, name, spy(render.WRITERS[name]))
    return seen


@pytest.fixture(scope="module")
def media(make_clip, tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    clips = [
        make_clip("ev-a", seconds=1, fps=8),
        make_clip("ev-b", seconds=1, fps=8, pattern="static"),
        make_clip("ev-c", seconds=1, fps=8, width=48, height=64),
        make_clip("ev-d", seconds=1.5, fps=6),
    ]
    (root / "labels.csv").write_text(
        "path,mos\n" + "".join(f"{c},{m}\n" for c, m in zip(clips, (2.0, 3.5, 1.0, 4.5)))
    )
    many = [
        make_clip(f"ev-cal{i}", seconds=1, fps=4 + i, width=32 + 8 * (i % 3), height=32) for i in range(10)
    ]
    (root / "cal-labels.csv").write_text(
        "path,mos\n" + "".join(f"{c},{1 + 0.4 * i}\n" for i, c in enumerate(many))
    )
    (root / "videos").mkdir()
    for clip in clips[:2]:
        (root / "videos" / clip.name).write_bytes(clip.read_bytes())
    return {"root": root, "clips": [str(c) for c in clips]}


README_ROW = {"train": "train --validate-data"}  # the README row of a command whose JSON needs a flag


def runs(media, model: str) -> dict[str, tuple[list[str], str, set[int]]]:
    """command → (arguments printing JSON, record kind, accepted exit codes)."""
    clip, root = media["clips"][0], media["root"]
    quiet = ["-q", "-m", model, "--device", "cpu"]
    return {
        "score": (["score", clip, *quiet, "-f", "json"], "score", {0}),
        "ask": (["ask", clip, "Is it sharp?", *quiet, "--max-new-tokens", "3", "-f", "json"], "answer", {0}),
        "batch": (
            [
                "batch",
                str(root / "videos"),
                "--jsonl",
                str(root / "rows.jsonl"),
                "--overwrite",
                "--summary",
                *quiet,
                "--workers",
                "0",
            ],
            "batch",
            {0},
        ),
        "probe": (["probe", clip, str(root / "missing.mp4"), "-f", "json"], "probe", {3}),
        "models list": (["models", "list", "-f", "json"], "models", {0}),
        "eval": (["eval", str(root / "labels.csv"), *quiet, "-f", "json"], "eval", {0}),
        "train": (
            [
                "train",
                "--stage",
                "stage2-ugc",
                "--data",
                str(root / "labels.csv"),
                "--validate-data",
                "-f",
                "json",
            ],
            "data_check",
            {0},
        ),
        "doctor": (["doctor", "--device", "cpu", "-f", "json"], "doctor", {0}),
        "compare": (["compare", clip, media["clips"][1], *quiet, "-f", "json"], "compare", {0}),
        "calibrate": (
            [
                "calibrate",
                str(root / "cal-labels.csv"),
                *quiet,
                "-f",
                "json",
                "-o",
                str(root / "cal.json"),
                "--overwrite",
                "--bootstrap",
                "5",
                "--kind",
                "isotonic",
            ],
            "calibration",
            {0},
        ),
        "verify": (["verify", "--precisions", "fp32,bf16", clip, *quiet, "-f", "json"], "verify", {0}),
    }


def test_every_command_has_a_record_or_a_reason(media):
    planned = runs(media, "unused")
    for name, command in commands().items():
        assert (name in planned) != (name in NO_RECORD), f"`vqa2 {name}`: add its JSON run here, or a reason"
        if offers_format(command):
            assert name in planned, f"`vqa2 {name}` offers --format: its records must be checked here"
    assert set(planned) | set(NO_RECORD) == set(commands()), "a listed command is no longer in the app"


def test_format_choices_are_the_registry():
    assert set(render.WRITERS) == set(OUTPUT_FORMATS) and set(REPORT_FORMATS) <= set(OUTPUT_FORMATS)
    with pytest.raises(ValueError, match="unknown format"):
        render.make_writer("yaml", None, "score")


@pytest.mark.parametrize(
    "name",
    [
        "score",
        "ask",
        "batch",
        "probe",
        "models list",
        "eval",
        "train",
        "doctor",
        "compare",
        "calibrate",
        "verify",
    ],
)
def test_json_comes_from_the_registry_with_the_documented_keys(
    name, media, tiny_model_dir, spies, capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    args, kind, codes = runs(media, str(tiny_model_dir))[name]
    code, out, err = run(args, capsys)
    assert code in codes, err
    assert spies and {s["kind"] for s in spies} == {kind}, (
        f"`vqa2 {name}` wrote no {kind} record via the registry"
    )
    written = [s["dict"] for s in spies]
    if spies[0]["fmt"] == "jsonl":
        parsed = [json.loads(line) for line in out.splitlines()]
    else:
        data = json.loads(out)
        parsed = data if isinstance(data, list) else [data]
    assert parsed == json.loads(json.dumps(written)), (
        f"`vqa2 {name}`: stdout is not (only) the registry's output"
    )
    keys = documented_keys()[README_ROW.get(name, name)]
    for obj in parsed:
        assert set(obj) == keys, f"`vqa2 {name}` JSON keys differ from README: {set(obj) ^ keys}"


def test_a_report_is_one_json_object_and_a_list_streams():
    import io

    from vqa2cli.records.reports import DataCheckRecord, ModelCardRecord

    buf = io.StringIO()
    writer = render.make_writer("json", buf, "data_check")
    writer.write(DataCheckRecord(source="d.csv", records=2, problems=["d.csv: record 1: gone"]))
    with pytest.raises(ValueError, match="one JSON object"):
        writer.write(DataCheckRecord(source="other.csv"))
    writer.close()
    assert json.loads(buf.getvalue())["ok"] is False and buf.getvalue().startswith("{\n")
    buf = io.StringIO()
    writer = render.make_writer("json", buf, "models")
    writer.write(ModelCardRecord("m", "score", "o/m", "main", False, None, "VQA² scorer"))
    writer.close()
    assert (
        buf.getvalue()
        == '[\n{\n  "name": "m",\n  "task": "score",\n  "repo": "o/m",\n  "revision": "main",\n'
        '  "cached": false,\n  "path": null,\n  "description": "VQA² scorer",\n'
        '  "size_bytes": null,\n  "parameters": null\n}\n]\n'
    )
