"""Bitrate from the container, demux only (no decoding): what ``vqa2 compare`` puts beside each score.

* ``bitrate_kbps``: the whole file, ``size_bytes × 8 / duration_s / 1000`` (audio and container overhead
  included, the figure a delivery pipeline pays for);
* ``video_kbps``: the video stream's packets only (sum of packet sizes × 8 / duration);
* per window: the video packets whose presentation time falls in ``[start_s, end_s)`` (seconds from the
  first packet's presentation time, the time base of :class:`~vqa2cli.video.segments.Window`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PacketTrack:
    """The video stream's packets of one file: ``times`` (seconds from the first presentation time, sorted)
    and ``sizes`` (bytes) of the shown packets; ``size_bytes`` the file's size."""

    times: tuple[float, ...]
    sizes: tuple[int, ...]
    size_bytes: int

    def bitrate_kbps(self, duration_s: float) -> float | None:
        """The whole file's bitrate (kbit/s) over ``duration_s`` seconds; None without a duration."""
        return self.size_bytes * 8 / duration_s / 1000 if duration_s and duration_s > 0 else None

    def video_kbps(self, duration_s: float) -> float | None:
        """The video packets' bitrate (kbit/s) over ``duration_s`` seconds; None without a duration."""
        return sum(self.sizes) * 8 / duration_s / 1000 if duration_s and duration_s > 0 else None

    def window_kbps(self, start_s: float, end_s: float) -> float | None:
        """The video packets shown in ``[start_s, end_s)`` in kbit/s; None for an empty span."""
        if end_s <= start_s:
            return None
        total = sum(s for t, s in zip(self.times, self.sizes) if start_s <= t < end_s)
        return total * 8 / (end_s - start_s) / 1000

    def windows_kbps(self, spans: Sequence[tuple[float, float]]) -> list[float | None]:
        """:meth:`window_kbps` per ``(start_s, end_s)``, except that the last span takes every packet from its
        start on (a window's end is its last frame's end; no packet is left out at the clip's end)."""
        out = []
        for k, (start, end) in enumerate(spans):
            stop = float("inf") if k == len(spans) - 1 else end
            total = sum(s for t, s in zip(self.times, self.sizes) if start <= t < stop)
            out.append(total * 8 / (end - start) / 1000 if end > start else None)
        return out


def read_packets(path: str | Path) -> PacketTrack:
    """One demux pass over the first video stream (cover art skipped). Raises the probe's InputError
    subclasses (missing, unreadable, no video stream, not a container)."""
    from .opening import check_path, open_container
    from .source import stat  # through the descriptor of a pinned file (video/source.py)
    from .streams import video_stream

    p = check_path(path)
    times, sizes = [], []
    with open_container(p) as container:
        stream = video_stream(container, p)
        base = stream.time_base
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue
            times.append(float(packet.pts * base))
            sizes.append(packet.size)
    first = min(times) if times else 0.0
    order = sorted(range(len(times)), key=times.__getitem__)
    return PacketTrack(
        tuple(times[i] - first for i in order), tuple(sizes[i] for i in order), stat(p).st_size
    )
