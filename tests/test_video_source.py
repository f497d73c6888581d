"""The video layer reads a pinned descriptor, never the name (vqa2cli/video/source.py): once pinned, the file's
name is made to point at another clip, yet probe, stat, a whole-clip decode and a windowed decode all see the
pinned file; nothing opens or stats the name again."""

from __future__ import annotations

import builtins
import os

import pytest


def test_pinned_reads_never_go_back_to_the_name(make_clip, tmp_path, monkeypatch):
    from vqa2cli.config import Settings
    from vqa2cli.video import source
    from vqa2cli.video.decode import decode_clip, decode_windows
    from vqa2cli.video.opening import check_path, file_stat
    from vqa2cli.video.probe import probe_video

    name = tmp_path / "clip.mp4"
    name.write_bytes(make_clip("src-a.mp4", seconds=2.0, fps=4, width=48, height=32).read_bytes())
    other = make_clip("src-b.mp4", seconds=1.0, fps=4, width=32, height=48)
    original_size = name.stat().st_size
    pinned = source.pin(os.open(name, os.O_RDONLY), str(name))
    try:
        os.replace(tmp_path / "clip.mp4", tmp_path / "moved.mp4")
        os.symlink(other, name)  # the name now leads to a different clip
        touched = []
        real_open, real_stat, real_os_open = builtins.open, os.stat, os.open

        def spy(real):
            def wrapped(path, *a, **k):
                if str(path) in (str(name), os.path.realpath(name), str(other)):
                    touched.append((real.__name__, str(path)))
                return real(path, *a, **k)

            return wrapped

        monkeypatch.setattr(builtins, "open", spy(real_open))
        monkeypatch.setattr(os, "stat", spy(real_stat))
        monkeypatch.setattr(os, "open", spy(real_os_open))
        video = Settings().video
        check_path(pinned.key)
        info = probe_video(pinned)  # the PinnedFile itself is a path-like
        assert (info.width, info.height, info.n_frames, info.container) == (48, 32, 8, "mp4")
        assert file_stat(pinned.key).size_bytes == original_size
        clip = decode_clip(pinned.key, video)
        assert clip.info.n_frames == 8 and clip.keyframes.shape[0] == 2
        windows = list(decode_windows(pinned.key, video, 1.0))
        assert len(windows) == 2 and all(c.info.width == 48 for _, c in windows)
        assert touched == []
    finally:
        pinned.close()
    assert source.lookup(pinned.key) is None


def test_a_missing_pin_stays_missing(tmp_path):
    from vqa2cli.errors import FileMissingError
    from vqa2cli.video import source
    from vqa2cli.video.opening import check_path, file_stat

    missing = source.pin_missing(str(tmp_path / "later.mp4"))
    try:
        (tmp_path / "later.mp4").write_bytes(b"\0" * 100)  # appears after the request was checked
        with pytest.raises(FileMissingError):
            check_path(missing.key)
        assert file_stat(missing.key) is None
    finally:
        missing.close()
