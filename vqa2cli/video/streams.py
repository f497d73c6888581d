"""Which video stream of a file is scored, and whether the file is still the one that was probed.

:func:`video_stream` picks the stream (``video.stream``, else the ffmpeg CLI's default choice,
:func:`best_video_stream`); :func:`changed_note` is the warning for a file that changed while it was read
(probe reads a snapshot: :func:`~vqa2cli.video.opening.snapshot_url`). Re-exported by :mod:`.probe`.
"""

from __future__ import annotations

from ..errors import NoVideoStreamError

# PyAV's ``demux`` raises IndexError in its end-of-stream flush when the demuxer added streams mid-file (an
# MPEG-TS packet with a damaged PID reads as a new stream; ffmpeg goes on): every packet was read by then,
# so it is the end of the packets, not damage (the decoders are flushed by the caller).
STREAMS_ADDED = (IndexError,)


def video_stream(container, path, index: int | None = None):
    """The video stream to score: the container's stream ``index`` when given (``video.stream`` ≥ 0; it must
    be a video stream that is not cover art, else :class:`NoVideoStreamError` naming the candidates), else
    the one the ffmpeg CLI picks by default (:func:`best_video_stream`). Cover art (attached pictures) never
    counts."""
    import av

    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if index is not None and index >= 0:
        for stream in videos:
            if stream.index == index:
                return stream
        listed = ", ".join(str(s.index) for s in videos) or "none"
        raise NoVideoStreamError(
            str(path),
            f"stream {index} is not a video stream of this file (video streams: {listed})",
            "pass --stream N (config video.stream) with one of them, or -1 for ffmpeg's default choice",
        )
    if videos:
        return best_video_stream(videos)
    kinds = sorted({"cover art" if s.type == "video" else s.type for s in container.streams})
    kinds = kinds or ["no streams"]
    raise NoVideoStreamError(
        str(path),
        f"no video stream (found: {', '.join(kinds)})",
        "pass a video file; audio-only files and cover art cannot be scored",
    )


def best_video_stream(streams):
    """The video stream the ffmpeg CLI maps by default (``fftools/ffmpeg_mux_init.c``, ``map_auto_video``):
    the highest ``width × height + 100 000 000`` if the stream delivered packets while the file was opened
    ``+ 5 000 000`` if its disposition is ``default``; the first of equal scores (a later stream must score
    strictly more). Cover art is left out before (ffmpeg scores it 1). PyAV does not expose the
    "delivered packets" event flag: a stream whose frame size is known counts as having delivered them.
    ``av_find_best_stream`` (libavformat; ffprobe, players) ranks by disposition and bit rate instead, so on
    rare layouts players may show another stream: ``video.stream`` picks one explicitly."""
    import av

    def score(stream) -> int:
        area = (stream.codec_context.width or 0) * (stream.codec_context.height or 0)
        default = bool(stream.disposition & av.stream.Disposition.default)
        return area + 100_000_000 * (area > 0) + 5_000_000 * default

    best = streams[0]
    for stream in streams[1:]:
        if score(stream) > score(best):
            best = stream
    return best


def changed_note(info) -> str | None:
    """The warning when ``info.path`` is no longer the file that was probed (size or mtime differ: it grew
    or was rewritten while it was read); None when it is unchanged (or was not probed from a file)."""
    from .opening import file_stat

    now = file_stat(info.path)
    if not info.size_bytes or now is None or (now.size_bytes, now.mtime) == (info.size_bytes, info.mtime):
        return None
    grew = (
        f"grew from {info.size_bytes} to {now.size_bytes} bytes"
        if now.size_bytes > info.size_bytes
        else f"changed ({info.size_bytes} → {now.size_bytes} bytes)"
    )
    return (
        f"the file {grew} while it was read: scored as it was when first read (its first "
        f"{info.size_bytes} bytes); score it again once it is complete"
    )
