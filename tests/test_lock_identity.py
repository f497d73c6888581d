"""The output lock goes by the file's identity: every name of one file (another spelling, ``./``, ``..``, a
symlink, a symlinked folder, a hard link) is refused while a run holds it, naming the holder; the lock is
built on filelock and removed when the run ends."""

from __future__ import annotations

import os

import pytest

from vqa2cli.errors import ExitCode, UsageError
from vqa2cli.jobs.lock import OutputLock, identity_lock_path, lock_path, locked_outputs


def _names(tmp_path, exists: bool) -> tuple[str, list[str]]:
    real = tmp_path / "d" / "out.csv"
    real.parent.mkdir()
    (tmp_path / "e").mkdir()
    if exists:
        real.write_text("index,path\n")
    os.symlink(real, tmp_path / "link.csv")
    os.symlink(real.parent, tmp_path / "dlink")
    names = [
        str(tmp_path / "d" / "." / "out.csv"),
        str(tmp_path / "e" / ".." / "d" / "out.csv"),
        str(tmp_path / "link.csv"),
        str(tmp_path / "dlink" / "out.csv"),
        str(tmp_path / "d" / "out.csv"),
        str(tmp_path / "d" / "" / "out.csv").replace("/out", "//out"),
    ]
    if exists:
        os.link(real, tmp_path / "e" / "hard.csv")
        names.append(str(tmp_path / "e" / "hard.csv"))
    return str(real), names


@pytest.mark.parametrize("exists", [True, False])
def test_every_name_of_one_file_is_refused_while_held(tmp_path, monkeypatch, exists):
    monkeypatch.chdir(tmp_path)
    real, names = _names(tmp_path, exists)
    names.append(os.path.join(".", "d", "out.csv"))  # relative spelling
    for first in (real, *names):
        held = OutputLock(first).acquire()
        try:
            for other in names:
                with pytest.raises(UsageError) as info:
                    OutputLock(other).acquire()
                text = info.value.one_line()
                assert f"{other} is being written by another vqa2 run (pid {os.getpid()} on " in text, text
                assert "\n" not in text and info.value.exit_code == ExitCode.USAGE
        finally:
            held.release()
        assert not os.path.exists(lock_path(real))
        if exists:
            assert not os.path.exists(identity_lock_path(real))
    for name in names:  # free again under every name
        OutputLock(name).acquire().release()


def test_different_files_do_not_block_each_other(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("x")
    with locked_outputs([str(a)]), locked_outputs([str(b)]):
        pass


def test_lock_is_filelock_and_holder_line_is_in_the_file(tmp_path):
    import filelock

    out = tmp_path / "o.csv"
    out.write_text("x")
    held = OutputLock(str(out)).acquire()
    try:
        assert all(isinstance(lock, filelock.BaseFileLock) for lock, _ in held._held) and len(held._held) == 2
        text = open(lock_path(str(out)), encoding="utf-8").read()
        assert text.startswith(f"pid {os.getpid()} on ") and ", started " in text
    finally:
        held.release()
