"""A command's checks before any weights load: each input exists, is a file, is not empty and probes as a
video (:func:`preflight`, :class:`CheckedInputs`), and the clips' shapes that size the memory preflight
(:func:`clip_shapes`). Done once per command and reused by the decode (``Scorer.score_files``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError


def preflight(paths: list[str | Path]) -> list[InputError]:
    """Cheap checks before any weights load: the file exists, is a file and is not empty."""
    from ..video.opening import check_path

    errors: list[InputError] = []
    for raw in paths:
        try:
            check_path(raw)
        except InputError as exc:
            errors.append(exc)
    return errors


def clip_shapes(paths: list[str | Path], limit: int = 8) -> list[tuple[int, float]]:
    """``(n_frames, avg_fps)`` of up to ``limit`` readable inputs (a demux pass each), for the memory preflight.

    Unreadable files are skipped here (they fail with their own error later). Beyond ``limit`` inputs the
    preflight assumes the largest of these, or a 10-second 30 fps clip when none could be probed.
    """
    return CheckedInputs.probe({}, paths, limit).shapes()


@dataclass
class CheckedInputs:
    """A command's preflight, done once and handed to :meth:`Scorer.score_files`: the error of every input
    that failed the cheap checks (:func:`preflight`) or its probe, and the probe of up to 8 readable ones
    (for the memory preflight) with the file's size and mtime, reused by the decode while the file is
    unchanged (a file changed since is probed again)."""

    errors: dict[str, InputError]
    probed: dict[str, tuple[Any, Any]]  # path -> (VideoInfo, FileStat)

    @classmethod
    def check(cls, paths: list[str], limit: int = 8) -> CheckedInputs:
        """:func:`preflight` on every path, then a probe (frame count and rate) of up to ``limit`` good ones."""
        errors = {}
        for raw in paths:  # keyed by the path as given (an error names it normalised: ./a.mp4 -> a.mp4)
            errors.update((str(raw), e) for e in preflight([raw])[:1])
        return cls.probe(errors, [p for p in paths if str(p) not in errors], limit)

    @classmethod
    def probe(cls, errors: dict[str, InputError], paths, limit: int) -> CheckedInputs:
        from ..video.opening import file_stat
        from ..video.probe import probe_video

        probed = {}
        for raw in paths[:limit]:
            try:
                stat = file_stat(raw)
                probed[str(raw)] = (probe_video(raw, key_sizes=False), stat)  # no key-frame decoding
            except InputError as exc:  # what decoding it would raise first: not probed again
                errors[str(raw)] = exc
        return cls(errors, probed)

    def shapes(self) -> list[tuple[int, float]]:
        """``(n_frames, avg_fps)`` of the probed inputs, for the memory preflight."""
        return [(info.n_frames, info.avg_fps) for info, _ in self.probed.values()]

    def info(self, path: str | Path):
        """The probe of ``path`` when it was probed and the file has not changed since (else None)."""
        from ..video.opening import file_stat

        info, stat = self.probed.get(str(path), (None, None))
        return info if info is not None and stat is not None and file_stat(path) == stat else None
