"""Run the `vqa2` command in-process, as the tests of its outputs and exit codes do."""

from __future__ import annotations

import pytest

from vqa2cli.cli.app import main


def run(args: list[str], capsys) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``vqa2 ARGS`` run in this process."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    return exc.value.code, out, err
