"""Evidence that a video file was cut short although its packets read cleanly (probe's damage check).

Three kinds, each cheap: a transport stream whose size is not a whole number of 188/192-byte packets, a
Matroska/WebM file shorter than the size its Segment element declares (EBML, RFC 8794), and a scored video
stream whose packets end well before the duration declared for that stream.

The timing evidence is the scored stream's own (issue 25, 2): its declared duration (MP4/MOV ``mdhd``/edit
list, ``AVStream.duration``) against the span of its own packets. The container's duration is the longest
of all its streams (audio, subtitles, data), so it is used only when the video is the file's one stream; a
file whose audio or subtitles outlast the video is complete. The allowed shortfall is the larger of 1 s, 5 %
and two of the stream's longest gaps between frames (a slideshow or a motion-triggered camera shows one frame
for many seconds, and a container may count the last frame's whole display time).
"""

from __future__ import annotations

from pathlib import Path


def truncation(container, path: Path, scan, raw: bool, stream=None, size: int | None = None) -> str | None:
    """Evidence that the file was cut short although every packet read cleanly: a transport stream that
    ends inside a 188/192-byte packet, a Matroska/WebM Segment declared longer than the file, or the scored
    ``stream``'s packets ending well before the duration declared for it (module docstring). ``scan``:
    probe's packet scan of ``stream`` (``times``: its shown packets' (pts, duration), sorted; ``restarts``);
    ``raw``: an elementary stream without a container duration; ``size``: the bytes read (the snapshot's
    size, default the file's). Returns a one-line reason, or None."""
    from .source import stat

    size = size or stat(path).st_size  # through the descriptor of a pinned file (video/source.py)
    if container.format.name.split(",")[0] == "mpegts" and size % 188 and size % 192:
        return "the file ends inside a transport-stream packet (truncated)"
    if "matroska" in container.format.name:
        end = matroska_segment_end(path)
        if end is not None and end > size:
            return f"the file ends at byte {size} of the {end} its Matroska segment declares (truncated)"
    if raw or stream is None or scan.restarts or len(scan.times) < 2 or not stream.time_base:
        return None
    return _short_stream(container, stream, scan.times)


def _short_stream(container, stream, times) -> str | None:
    """The timing evidence (module docstring) for the scored ``stream``'s sorted ``(pts, duration)`` list."""
    import av

    tb = float(stream.time_base)
    if stream.duration and stream.duration > 0:
        declared, whose = stream.duration * tb, "its stream header"
    else:
        others = [
            s
            for s in container.streams
            if s is not stream
            and not (s.type == "video" and s.disposition & av.stream.Disposition.attached_pic)
        ]
        if others or not container.duration:
            return None  # the container's duration may be another stream's
        declared, whose = container.duration / 1_000_000, "the container header"
    steps = [b[0] - a[0] for a, b in zip(times, times[1:])]
    gap = max(steps) * tb if steps else 0.0
    last_pts, last_duration = times[-1]
    seen = (last_pts + (last_duration or 0) - times[0][0]) * tb
    if declared - seen > max(1.0, 0.05 * declared, 2 * gap):
        return f"the video packets end at {seen:.2f} s of the {declared:.2f} s {whose} declares (truncated)"
    return None


def _ebml_vint(data: bytes, pos: int, strip_marker: bool) -> tuple[int, int] | None:
    """(value, next position) of the EBML variable-length integer at ``pos``; None if malformed."""
    if pos >= len(data) or data[pos] == 0:
        return None
    length = 8 - data[pos].bit_length() + 1
    if pos + length > len(data):
        return None
    value = int.from_bytes(data[pos : pos + length], "big")
    if strip_marker:
        value &= (1 << (7 * length)) - 1
    return value, pos + length


def matroska_segment_end(path: Path) -> int | None:
    """Byte offset where the Matroska/WebM Segment declares it ends (EBML header, then the Segment
    element's size); None when unknown (live-written files use the "unknown size" value)."""
    from .source import open_binary

    with open_binary(path) as fh:
        head = fh.read(64)
    header = _ebml_vint(head, 0, False)  # EBML header element: id 0x1A45DFA3, then its size
    size = _ebml_vint(head, header[1], True) if header and header[0] == 0x1A45DFA3 else None
    segment = _ebml_vint(head, size[1] + size[0], False) if size else None
    if not segment or segment[0] != 0x18538067:
        return None
    length = _ebml_vint(head, segment[1], True)
    if length is None or length[0] == (1 << (7 * (length[1] - segment[1]))) - 1:  # unknown size
        return None
    return length[1] + length[0]
