"""Third-party log lines (bitsandbytes) go through vqa2's console: known harmless ones only at -v, once;
unknown ones once each as Warning lines; -q keeps stderr clean. Scoped to the command (start_console)."""

from __future__ import annotations

import io
import logging
import warnings

import pytest

from vqa2cli.cli.options import start_console
from vqa2cli.output.console import NORMAL, QUIET, VERBOSE, Console, set_console
from vqa2cli.output.library_logs import route_library_messages

MATMUL = "MatMul8bitLt: inputs will be cast from %s to float16 during quantization"
GEMM = (
    "Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please make sure you already "
    "`pip install kernels` and the kernels >= 0.11.1"
)


@pytest.fixture(autouse=True)
def restore_logging():
    logger = logging.getLogger("bitsandbytes")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    with warnings.catch_warnings():
        yield
    logger.handlers[:], logger.level, logger.propagate = saved
    set_console(Console())


def flood(n_layers: int = 14, forwards: int = 2) -> None:
    """What bitsandbytes logs for a 2-clip 8-bit score on a CPU with AVX512-BF16 and no ``kernels``."""
    logging.getLogger("bitsandbytes.backends.cpu.ops").warning(GEMM, "No module named 'kernels'")
    mm = logging.getLogger("bitsandbytes.autograd._functions")
    for _ in range(forwards * n_layers):
        mm.warning(MATMUL, "torch.bfloat16")


@pytest.mark.parametrize("level,expected", [(QUIET, 0), (NORMAL, 0), (VERBOSE, 2)])
def test_known_messages_only_at_verbose_once(level, expected, capsys):
    buf = io.StringIO()
    route_library_messages(Console(level, buf))
    flood()
    lines = buf.getvalue().splitlines()
    assert len(lines) == expected and all(line.startswith("debug: bitsandbytes") for line in lines)
    assert capsys.readouterr().err == ""  # nothing through Python's last-resort handler either


def test_unknown_message_once_as_warning(capsys):
    buf = io.StringIO()
    route_library_messages(Console(NORMAL, buf))
    for _ in range(5):
        logging.getLogger("bitsandbytes.nn").warning("something new: %d", 1)
    logging.getLogger("bitsandbytes").error("broken kernel")
    assert buf.getvalue().splitlines() == [
        "Warning: bitsandbytes.nn: something new: 1",
        "Error: bitsandbytes: broken kernel",
    ]
    buf = io.StringIO()
    route_library_messages(Console(QUIET, buf))  # a second command: its own console replaces the first
    logging.getLogger("bitsandbytes.nn").warning("something new: %d", 1)
    assert buf.getvalue() == "" and capsys.readouterr().err == ""


def test_known_userwarning_ignored_unless_verbose():
    route_library_messages(Console(QUIET, io.StringIO()))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        route_library_messages(Console(QUIET, io.StringIO()))
        for _ in range(14):
            warnings.warn(MATMUL % "torch.bfloat16", UserWarning, stacklevel=1)
        warnings.warn("an unknown library warning", UserWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["an unknown library warning"]


def test_start_console_routes_and_import_does_not(capsys):
    import os
    import subprocess
    import sys
    from pathlib import Path

    probe = (
        "import logging, vqa2cli, vqa2cli.api; "
        "print(len(logging.getLogger('bitsandbytes').handlers), logging.getLogger('bitsandbytes').propagate)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.split() == ["0", "True"], done.stderr  # the library API installs nothing
    start_console(quiet=True, verbose=False)
    flood()
    assert capsys.readouterr().err == ""


@pytest.mark.e2e  # two `vqa2 score` processes
def test_quantized_score_quiet_stderr_is_empty(tiny_model_dir, make_clip, tmp_path):
    """End to end, in a fresh process (bitsandbytes logs at import; pytest's log capture would hide the
    flood in-process): an 8-bit score of two clips with -q prints no stderr line (was 14 per clip + 1)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    # two clips (the known line is said once per command, not per clip), each the smallest the model takes
    clips = [str(make_clip(n, seconds=1.0, fps=4, width=48, height=32)) for n in ("q1.mp4", "q2.mp4")]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
    }

    def score(*flags: str) -> list[str]:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "vqa2cli",
                "score",
                *clips,
                "--model",
                str(tiny_model_dir),
                "--quant",
                "8bit",
                "--no-quant-cache",
                "--format",
                "json",
                *flags,
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=600,
        )
        assert done.returncode == 0 and done.stdout, done.stderr
        return done.stderr.splitlines()

    assert score("-q") == []
    verbose = score("-v")
    assert sum("MatMul8bitLt" in line for line in verbose) == 1
    assert all(line.startswith("debug: ") for line in verbose if "bitsandbytes" in line)


def test_load_line_says_what_8bit_really_computes(monkeypatch):
    """LLM.int8() casts its inputs to fp16 and multiplies in int8: the load line never claims bf16/fp32."""
    from vqa2cli.modeling import precision

    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    by_quant = {
        p.quant: precision.compute_label(p) for p in precision.candidates("cpu", "auto", "auto", "bf16")
    }
    assert by_quant["8bit"] == "compute int8 (inputs cast to fp16; outliers and output bf16)"
    assert by_quant["4bit"] == "compute fp32"  # bnb_4bit_compute_dtype is used as given
