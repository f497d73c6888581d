"""Evidence that a video file was cut short although its packets read cleanly (probe's damage check).

Three kinds, each cheap: a transport stream whose size is not a whole number of 188/192-byte packets, a
Matroska/WebM file shorter than the size its Segment element declares (EBML, RFC 8794), and packets that
end well before the duration the container header declares.
"""

from __future__ import annotations

from pathlib import Path


def truncation(container, path: Path, scan, raw: bool) -> str | None:
    """Evidence that the file was cut short although every packet read cleanly: a transport stream that
    ends inside a 188/192-byte packet, a Matroska/WebM Segment declared longer than the file, or packets
    ending well before the duration the header declares (more than 1 s and 5 % short; audio counts, so a
    longer audio track is no false alarm). ``scan``: probe's packet scan (``restarts``, ``end_s``); ``raw``:
    an elementary stream without a container duration. Returns a one-line reason, or None."""
    from .source import stat

    size = stat(path).st_size  # through the descriptor of a pinned file (video/source.py)
    if container.format.name.split(",")[0] == "mpegts" and size % 188 and size % 192:
        return "the file ends inside a transport-stream packet (truncated)"
    if "matroska" in container.format.name:
        end = matroska_segment_end(path)
        if end is not None and end > size:
            return f"the file ends at byte {size} of the {end} its Matroska segment declares (truncated)"
    declared = (container.duration or 0) / 1_000_000
    if raw or declared <= 0 or scan.restarts or not scan.end_s:
        return None
    seen = scan.end_s - (container.start_time or 0) / 1_000_000
    if declared - seen > max(1.0, 0.05 * declared):
        return f"the packets end at {seen:.2f} s of the {declared:.2f} s the header declares (truncated)"
    return None


def _ebml_vint(data: bytes, pos: int, strip_marker: bool) -> tuple[int, int] | None:
    """(value, next position) of the EBML variable-length integer at ``pos``; None if malformed."""
    if pos >= len(data) or data[pos] == 0:
        return None
    length = 8 - data[pos].bit_length() + 1
    if pos + length > len(data):
        return None
    value = int.from_bytes(data[pos:pos + length], "big")
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
