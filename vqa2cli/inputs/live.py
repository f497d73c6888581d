"""A live input: a stream without a known duration (``vqa2 score - --segments 10s`` on a pipe that may never end,
an endless URL), read as it arrives so that windows are scored before it ends (docs/live.md).

A capture thread copies the source, as it comes, into a private temporary file (``tempfile``: mode 0600 in
``$TMPDIR``, deleted when the run ends) under the stdin size cap (``VQA2_STDIN_MAX_GB``). Readers of that
growing file (:meth:`Spool.reader`: a file object PyAV opens like a pipe, without seeking) block at its
current end until more bytes arrive or the capture has ended; the video layer (video/live.py) demuxes and
decodes through them while the copy goes on. The source is anything ``av.open`` reads as a stream: a binary
file object (stdin's ``sys.stdin.buffer``, a socket's ``makefile("rb")``) whose bytes are copied as they are,
or a URL string, whose packets PyAV demuxes and remuxes (stream copy) into a Matroska copy, or MPEG-TS when
the stream's frame size is not known before its first frames (an HLS playlist without ``#EXT-X-ENDLIST``,
HTTP without a length).

**Stall time-out.** When no byte arrives for :data:`TIMEOUT_ENV` seconds (default 30)
while a reader waits, the stream is *stalled*: readers see its end, no further window is scored, and the run
reports one line naming the input (exit 3); the windows scored before stay written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from typing import Any, BinaryIO

from .stdin import CHUNK, STDIN_MAX_GB_ENV, max_bytes

TIMEOUT_ENV = "VQA2_LIVE_TIMEOUT_S"


def timeout_s() -> float:
    """The stall time-out in seconds from :data:`TIMEOUT_ENV` (its default in vqa2cli/environment.py). Raises
    UsageError (exit 2) for a bad value."""
    from ..environment import positive_number

    return positive_number(TIMEOUT_ENV, "seconds")


class Spool:
    """The growing private copy of a live source (or, :meth:`of_file`, a local file read in place). ``size``:
    bytes copied so far; ``ended``: the capture is over (the source's end, the cap, an error);
    ``end_size``: where :meth:`end_at` ended it early; ``stalled``: ended by the time-out;
    ``error``: the InputError that ended it (the cap, a read error), else None. ``name`` is the input as
    given (``-``, a URL without credentials), used in every message."""

    def __init__(self, source: Any, name: str, *, cap: int | None = None, timeout: float | None = None):
        self.source, self.name = source, name
        self.cap = max_bytes() if cap is None else cap
        self.timeout = timeout_s() if timeout is None else timeout
        self.size, self.ended, self.stalled, self.stopped = 0, False, False, False
        self.end_size: int | None = None  # readers see the end here (--duration reached: end_at)
        self.error: Exception | None = None
        self._last = time.monotonic()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._capture, name="vqa2-live-capture", daemon=True)
        self.owned = source is not None  # a copy this run made (deleted on close), not the user's file
        if self.owned:  # else of_file: a complete local file read in place
            fd, self.path = tempfile.mkstemp(prefix="vqa2-live-", suffix=".video")
            self._out = os.fdopen(fd, "wb")

    @classmethod
    def of_file(cls, path: str, name: str) -> Spool:
        """A complete local file read in place (``--duration`` on a file): nothing is copied."""
        spool = cls(None, name, cap=0, timeout=float("inf"))  # read in place: it cannot stall
        spool.path, spool.size, spool.ended = path, os.path.getsize(path), True
        return spool

    def start(self) -> Spool:
        self._thread.start()
        return self

    def _capture(self) -> None:
        try:
            if isinstance(self.source, str):
                self._remux(self.source)
            else:
                read = getattr(self.source, "read1", None) or self.source.read
                while not self.stopped and (chunk := read(CHUNK)):
                    self._append(chunk)
        except Exception as exc:  # noqa: BLE001 - any failure of the source ends the stream, named once
            with self._cond:
                if self.error is None and not self.stopped:
                    self.error = exc if _is_input_error(exc) else self._read_error(exc)
        finally:
            with contextlib.suppress(OSError):
                self._out.close()
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def _read_error(self, exc: Exception):
        from ..errors import UnreadableFileError

        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return UnreadableFileError(self.name, f"reading the stream failed ({reason})", "check the source")

    def _append(self, chunk: bytes) -> None:
        from ..errors import InputError

        if self.size + len(chunk) > self.cap:
            raise InputError(
                self.name,
                f"the stream is larger than the {self.cap / 1e9:g} GB cap ({STDIN_MAX_GB_ENV})",
                f"set {STDIN_MAX_GB_ENV} higher, or end the run earlier with --duration",
            )
        self._out.write(chunk)
        self._out.flush()
        with self._cond:
            self.size += len(chunk)
            self._last = time.monotonic()
            self._cond.notify_all()

    def _remux(self, url: str) -> None:
        """A URL: its video packets demuxed by FFmpeg and remuxed (stream copy) into the copy as they come."""
        import av

        with av.open(url, mode="r", metadata_errors="replace", timeout=self.timeout) as src:
            sink = _SpoolSink(self)
            # Matroska needs each stream's size in its header; a live HLS stream may not say it before its
            # first frames are decoded: then MPEG-TS, which carries the codec's own headers
            sized = all(s.codec_context.width for s in src.streams.video)
            with av.open(sink, mode="w", format="matroska" if sized else "mpegts") as out:
                mapped = {}
                for stream in src.streams.video:
                    mapped[stream.index] = out.add_stream_from_template(stream)
                for packet in src.demux(*src.streams.video):
                    if self.stopped:
                        break
                    if packet.dts is None or packet.stream.index not in mapped:
                        continue
                    packet.stream = mapped[packet.stream.index]
                    out.mux(packet)

    def wait(self, offset: int) -> int:
        """Bytes available past ``offset``, waiting while there are none and the capture goes on; 0 at the
        end of the stream (or past :meth:`end_at`, or once stalled). A wait longer than the time-out since the
        last byte arrived marks the stream stalled."""
        with self._cond:
            while self.size <= offset and not (self.ended or self.end_size is not None or self.stalled):
                left = self.timeout - (time.monotonic() - self._last)
                if left <= 0:
                    self.stalled = True
                    self._cond.notify_all()
                    break
                self._cond.wait(left)
            end = self.size if self.end_size is None else min(self.size, self.end_size)
            return max(0, end - offset)

    def reader(self):
        """A new reader from the first byte (each demux pass has its own): a :class:`SpoolReader` of the copy,
        or the local file itself (seekable: an MP4 index at its end is read as for any file)."""
        return SpoolReader(self) if self.owned else open(self.path, "rb")  # noqa: SIM115 - PyAV closes it

    def end_at(self, size: int) -> None:
        """End the stream at byte ``size`` (``--duration`` reached: every frame before it is in the first
        ``size`` bytes): the copy stops, readers read up to there and see the end."""
        with self._cond:
            self.stopped = True
            self.end_size = size if self.end_size is None else min(size, self.end_size)
            self._cond.notify_all()

    def stop(self) -> None:
        """Stop the copy: readers see the end at once."""
        self.end_at(0)

    def stall_error(self):
        from ..errors import InputError

        return InputError(
            self.name,
            f"the stream stalled: no data for {self.timeout:g} s ({TIMEOUT_ENV}); "
            "the windows scored before were written",
            f"check the source, or raise {TIMEOUT_ENV}",
        )

    def close(self) -> None:
        """Stop and delete the copy (a file read in place is left alone)."""
        self.stop()
        if self.owned:
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def _is_input_error(exc: Exception) -> bool:
    from ..errors import InputError

    return isinstance(exc, InputError)


class SpoolReader:
    """A read-only, non-seekable file object over a :class:`Spool` (what ``av.open`` gets): ``read(n)``
    returns what is there (at most ``n`` bytes), waits when nothing is, and returns ``b""`` at the end."""

    def __init__(self, spool: Spool):
        self.spool, self.offset = spool, 0
        self._file: BinaryIO = open(spool.path, "rb")  # noqa: SIM115 - closed with the reader
        self.name = spool.name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, n: int = -1) -> bytes:
        available = self.spool.wait(self.offset)
        if available <= 0:
            return b""
        want = available if n is None or n < 0 else min(n, available)
        data = self._file.read(want)
        self.offset += len(data)
        return data

    def close(self) -> None:
        self._file.close()


class _SpoolSink:
    """The write side PyAV's Matroska muxer writes into (a URL's remux): bytes go to the spool as they come."""

    def __init__(self, spool: Spool):
        self.spool = spool

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data) -> int:
        self.spool._append(bytes(data))
        return len(data)
