"""Each fact users read is rendered from one declaration; these tests fail when one shown drifts from it.

Exit codes: ``vqa2cli/errors.py`` (EXIT_CODES, COMMAND_EXIT_CODES) → --help epilogs, man pages, reference.
Server error codes: ``errors.API_ERRORS`` (HTTP status, exit code) → every ``ApiError``/``Refused`` raised.
Environment variables: ``vqa2cli/environment.py`` → man pages, reference; every variable the code reads.
Defaults quoted in --help (``[default: X]``, ``[card: X]``): the config / code declarations.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest
import typer

from vqa2cli import config
from vqa2cli.cli.app import app
from vqa2cli.environment import ENVIRONMENT
from vqa2cli.errors import (
    API_ERRORS,
    COMMAND_EXIT_CODES,
    EXIT_CODES,
    ExitCode,
    exit_codes_for,
    exit_codes_help,
)
from vqa2cli.registry import DEFAULT_CARD_FOR_TASK

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vqa2cli"
# Variables the code reads that are another program's protocol, not a setting of vqa2 (torchrun's ranks).
NOT_SETTINGS = {"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}


def _commands(command=None, path=()):
    command = command or typer.main.get_command(app)
    yield " ".join(path), command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from _commands(command.commands[name], (*path, name))


COMMANDS = dict(_commands())


# --- exit codes -----------------------------------------------------------------------------------
def test_every_exit_code_has_one_meaning_and_every_command_its_list():
    assert set(EXIT_CODES) == set(ExitCode)
    top = {name.split()[0] for name in COMMANDS if name}
    assert set(COMMAND_EXIT_CODES) == top, (
        "declare the exit codes of every command in errors.COMMAND_EXIT_CODES"
    )
    for codes in COMMAND_EXIT_CODES.values():
        assert ExitCode.OK in codes and ExitCode.USAGE in codes


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_epilog_shows_the_declared_exit_codes(name):
    epilog = COMMANDS[name].epilog or ""
    assert epilog.rstrip().endswith(exit_codes_help(name)), (
        f"`vqa2 {name} --help` must end with its exit codes"
    )
    prose = epilog.replace(exit_codes_help(name), "") + (COMMANDS[name].help or "")
    assert not re.search(r"exit codes?:", prose, re.I), "exit codes are worded only in errors.py"
    for match in re.finditer(r"\bexits? (\d+)", prose):  # "exit 3" mentioned in prose: a code it can end with
        assert int(match.group(1)) in exit_codes_for(name), (name, match.group(0))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_man_page_exit_status_and_environment_are_the_declared_ones(name):
    page = (ROOT / "man" / f"{'-'.join(['vqa2', *name.split()])}.1").read_text(encoding="utf-8")
    status = page.split(".SH EXIT STATUS\n", 1)[1].split(".SH ", 1)[0]
    assert re.findall(r"^\.B (\d+)$", status, re.M) == [str(int(c)) for c in exit_codes_for(name)]
    environment = page.split(".SH ENVIRONMENT\n", 1)[1]
    assert re.findall(r"^\.B (\S+)$", environment, re.M) == [v.name for v in ENVIRONMENT]


def test_exit_code_help_lines_fit_the_help_width():
    assert all(len(line) <= 100 for line in exit_codes_help("").splitlines())


# --- the server's error codes ---------------------------------------------------------------------
def _calls(name: str):
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == name
            ):
                yield path.relative_to(ROOT), node


def _literal(node):
    return node.value if isinstance(node, ast.Constant) else None


@pytest.mark.parametrize("name", ["ApiError", "Refused"])
def test_every_refusal_uses_a_declared_code_with_its_declared_status_and_exit_code(name):
    seen = 0
    for where, call in _calls(name):
        args = [_literal(a) for a in call.args]
        if len(args) < 2 or not isinstance(args[1], str):
            continue  # re-raised with a code from a variable (exc.code): declared where it was raised
        seen += 1
        status, code = args[0], args[1]
        assert code in API_ERRORS, (
            f"{where}:{call.lineno}: error code '{code}' is not declared in errors.API_ERRORS"
        )
        declared = API_ERRORS[code]
        if isinstance(status, int) and declared.status is not None:
            assert status == declared.status, f"{where}:{call.lineno}: '{code}' is HTTP {declared.status}"
        if len(args) > 3 and isinstance(args[3], int):
            assert args[3] == declared.exit_code, (
                f"{where}:{call.lineno}: '{code}' is exit {int(declared.exit_code)}"
            )
    assert seen


def test_model_error_codes_are_the_http_500_ones():
    from vqa2cli.errors import MODEL_ERROR_CODES

    assert set(MODEL_ERROR_CODES) == {"runtime_error", "internal_error"}
    assert all(API_ERRORS[c].exit_code == ExitCode.RUNTIME for c in MODEL_ERROR_CODES)


# --- environment variables ------------------------------------------------------------------------
_READS = re.compile(
    r"""(?:environ(?:\.get|\.setdefault|\.pop)?\s*[\(\[]\s*|getenv\(\s*|_ENV\s*=\s*)["']([A-Z][A-Z0-9_]+)["']"""
)


def _read_variables() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "environment.py":
            continue
        text = path.read_text(encoding="utf-8")
        for name in _READS.findall(text) + re.findall(r"""["'](VQA2_[A-Z0-9_]+)["']""", text):
            found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def test_every_variable_the_code_reads_is_declared():
    declared = {v.name for v in ENVIRONMENT}
    missing = {n: where for n, where in _read_variables().items() if n not in declared | NOT_SETTINGS}
    assert not missing, f"declare these in vqa2cli/environment.py: {missing}"


def test_every_declared_vqa2_variable_is_read_somewhere():
    read = set(_read_variables())
    assert not [v.name for v in ENVIRONMENT if v.name.startswith("VQA2_") and v.name not in read]
    assert len({v.name for v in ENVIRONMENT}) == len(ENVIRONMENT)


# --- defaults shown in --help ---------------------------------------------------------------------
def _decode_workers():
    from vqa2cli.jobs.prefetch import DEFAULT_WORKERS_SHOWN

    return DEFAULT_WORKERS_SHOWN


def _decode_processes():
    from vqa2cli.video.decode_pool import DEFAULT_DECODE_PROCESSES

    return str(DEFAULT_DECODE_PROCESSES)


def _train_workers():
    from vqa2cli.training.stages import TrainConfig

    return str(TrainConfig.dataloader_workers)


def _setting(section, key):
    return lambda: config.shown_default(section, key).split(": ", 1)[1].rstrip("]")


# Every flag whose help quotes a default, and the declaration that default must come from.
DECLARED = {
    "--device": _setting("runtime", "device"),
    "--quant": _setting("runtime", "quant"),
    "--quant-cache": _setting("runtime", "quant_cache"),
    "--strict": _setting("video", "strict"),
    "--long-clip": _setting("video", "long_clip_policy"),
    "--max-motion-frames": _setting("video", "max_motion_frames"),
    "--max-new-tokens": _setting("generation", "max_new_tokens"),
    "--temperature": _setting("generation", "temperature"),
    "--pool": _setting("scoring", "pool"),
    "--segments": _setting("video", "segment_s"),
    "--stream": _setting("video", "stream"),
    "--workers": _decode_workers,
    "--prefetch": lambda: "2 x workers",
    "--decode-processes": _decode_processes,
    "--assistant": lambda: DEFAULT_CARD_FOR_TASK["ask"],
    "--variant": lambda: __import__("vqa2cli.inputs.given", fromlist=["x"]).DEFAULT_VARIANT,
}
_QUOTED = re.compile(r"\[(?:default|card): ([^\]]+)\]")


def _quoted_defaults():
    for name, command in COMMANDS.items():
        for param in command.params:
            if isinstance(param, click.Option) and param.help:
                for value in _QUOTED.findall(" ".join(param.help.split())):
                    yield name, param.opts[0], value


def test_every_default_quoted_in_help_is_the_declared_one():
    quoted = list(_quoted_defaults())
    assert len(quoted) >= len(DECLARED)
    for name, flag, value in quoted:
        if value.startswith("the "):  # a description ("the label file's folder"), not a value
            continue
        want = (
            _train_workers() if (name, flag) == ("train", "--workers") else DECLARED.get(flag, lambda: None)()
        )
        assert want is not None, (
            f"`vqa2 {name} {flag}` quotes a default by hand: render it from its declaration"
        )
        assert value == want, f"`vqa2 {name} {flag}` shows [default: {value}], declared {want}"


def test_rendered_default_follows_its_declaration(monkeypatch):
    field = {f.name: f for f in config.dataclasses.fields(config.RuntimeSection)}["device"]
    monkeypatch.setattr(field, "default", "cpu")
    assert config.shown_default("runtime", "device") == "[default: cpu]"
