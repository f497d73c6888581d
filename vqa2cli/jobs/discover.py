"""Find the video files of a batch: folders, globs, path lists; sharding by a stable hash.

Inputs, each one of:

- a **folder**: walked recursively (``recursive=False``: only its own files). Hidden files and folders
  (name starts with ``.``, e.g. ``.DS_Store``, ``._clip.mp4``) and symlinked folders are not entered.
- a **glob** (``*``, ``?``, ``[`` in an input that is not an existing path; ``**`` spans folders).
- ``@LIST`` (or ``from_file``): a text file with one input per line (folders and globs allowed; blank
  lines and lines starting with ``#`` skipped; relative paths are relative to the current folder).
- a **file** path: always taken as given (a missing or broken file gets an error row, never a skip).

Files met inside folders or globs are videos when the decoder can open them (``vqa2 score`` would):

1. a known video container or raw-stream extension (case-insensitive), including raw elementary streams
   as encoders and cameras write them (``.264``/``.h264``/``.avc``, ``.265``/``.hevc``, ``.266``, ``.m2v``,
   ``.obu``, ``.ivf``, ``.vc1``, ``.y4m``, ...);
2. otherwise (unknown or no extension, a wrong one) their first bytes: a container's magic number or a
   raw stream's start code (H.264/HEVC Annex B, MPEG-1/2/4 video, VC-1, AV1 OBUs);
3. otherwise FFmpeg's own probe (:func:`ffmpeg_video`, a few KiB read): a video stream in a demuxer
   that is not a text or still-image reader.

Files whose extension says they are certainly not video (``.txt``, ``.m4a``, ``.jpg``, ...) are skipped
unless their magic bytes say video and FFmpeg confirms a video stream (a video under a wrong name); hidden
entries and special files are skipped unread. Every skipped path keeps its reason
(``Discovery.reasons``; :meth:`Discovery.skip_counts` counts them by reason). The result is sorted by path.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import UsageError

# Containers the PyAV decoder reads (FFmpeg demuxers), by extension.
VIDEO_EXTENSIONS = frozenset(
    """
3g2 3gp amv asf avi bik dav divx dv f4v flv gif h264 h265 hevc ivf m1v m2t m2ts m2v m4v mj2 mjpeg mjpg
mk3d mkv mov mp4 mpe mpeg mpg mts mxf nut nsv ogv qt rm rmvb roq swf ts vob webm wmv wtv y4m yuv4mpeg
264 265 266 h26l 26l avc x264 x265 h266 vvc mpv m4v obu vc1 rcv cavs avs2 avs3 drc vc2 cmp
""".split()
)  # last line: raw elementary streams (FFmpeg's raw demuxers' extensions)
# Common companions of videos that are certainly not video: skipped without reading them.
NOT_VIDEO_EXTENSIONS = frozenset(
    """
aac ac3 aiff bmp csv db doc docx flac heic htm html ini jpeg jpg json jsonl log m4a md mp3 nfo ogg
opus pdf png py sh srt ssa ass sub svg tif tiff toml tsv txt vtt wav webp xml yaml yml zip gz tar
""".split()
)
GLOB_CHARS = frozenset("*?[")
SNIFF_BYTES = 400
# FFmpeg demuxers that open almost anything or one still image: never evidence of a video.
NOT_VIDEO_DEMUXERS = frozenset({"tty", "image2", "bin", "idf", "xbin", "adf", "ansi", "lavfi", "data"})

# Skip reasons (Discovery.reasons values).
SKIP_HIDDEN = "hidden"
SKIP_SPECIAL = "not a regular file"
SKIP_EXTENSION = "not video (extension)"
SKIP_CONTENT = "not video (content)"


@dataclass(frozen=True)
class VideoFile:
    """One file to score. ``key`` (path relative to its input root) decides the shard."""

    path: str
    key: str


@dataclass
class Discovery:
    videos: list[VideoFile] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # non-video files, hidden entries
    empty_globs: list[str] = field(default_factory=list)  # patterns that matched nothing
    reasons: dict[str, str] = field(default_factory=dict)  # ignored path → why (SKIP_* above)

    def skip(self, path: str, reason: str) -> None:
        self.ignored.append(path)
        self.reasons[path] = reason

    def skip_counts(self) -> dict[str, int]:
        """How many paths were skipped for each reason, most frequent first."""
        counts: dict[str, int] = {}
        for path in self.ignored:
            reason = self.reasons.get(path, SKIP_CONTENT)
            counts[reason] = counts.get(reason, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def sort(self) -> None:
        """Sorted by path; a file named twice (``dir/a.mp4``, ``/abs/dir/a.mp4``) is kept as first named."""
        unique: dict[str, VideoFile] = {}
        for video in self.videos:
            unique.setdefault(os.path.abspath(video.path), video)
        self.videos = sorted(unique.values(), key=lambda v: v.path)
        self.ignored.sort()


def sniff_video(path: str | os.PathLike) -> bool:
    """Cheap magic-bytes check: is this file a video container FFmpeg reads? Reads 400 bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return False
    return _looks_like_video(head)


def _looks_like_video(head: bytes) -> bool:
    if len(head) < 12:
        return False
    if head[4:8] == b"ftyp":  # ISO BMFF: mp4/mov/3gp; audio-only brands are not video
        return head[8:12] not in (b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B ")
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"pnot", b"skip"):  # old QuickTime
        return True
    if head[:4] == b"RIFF":
        return head[8:12] in (b"AVI ", b"AVIX")
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:
        return True  # MPEG-TS: sync byte every 188 bytes
    if len(head) > 388 and head[4] == head[196] == head[388] == 0x47:
        return True  # M2TS: 4-byte timecode + 188-byte packets
    magics = (
        b"\x1a\x45\xdf\xa3",  # Matroska / WebM
        b"\x00\x00\x01\xba",
        b"\x00\x00\x01\xb3",  # MPEG-PS / MPEG-1/2 video
        b"FLV\x01",
        b"\x30\x26\xb2\x75\x8e\x66\xcf\x11",  # ASF / WMV
        b"GIF87a",
        b"GIF89a",
        b"YUV4MPEG2",
        b"DKIF",  # GIF, Y4M, IVF (VP8/VP9/AV1)
        b"\x06\x0e\x2b\x34\x02\x05\x01\x01",  # MXF header partition
        b"nut/multimedia container",
    )
    return head.startswith(magics) or _raw_stream_start(head)


def _raw_stream_start(head: bytes) -> bool:
    """A raw elementary stream: AV1 OBUs (temporal delimiter, then a sequence header), or a start code
    ``00 00 01`` after zero bytes only, followed by an H.264/HEVC NAL header or an MPEG-4 part 2 / VC-1
    start code that begins a stream (MPEG-1/2 sequence headers are in the magic numbers)."""
    if head.startswith(b"\x12\x00\x0a"):
        return True
    body = head.lstrip(b"\x00")
    zeros = len(head) - len(body)
    if zeros < 2 or not body.startswith(b"\x01") or len(body) < 3:
        return False
    code, nxt = body[1], body[2]
    kind, ref = code & 0x1F, code >> 5
    if code & 0x80 == 0 and ((kind in (5, 7) and ref) or (kind in (6, 9) and not ref)):
        return True  # H.264: IDR, SPS (nal_ref_idc > 0); SEI, access unit delimiter (nal_ref_idc 0)
    hevc = (code >> 1) & 0x3F
    if code & 0x80 == 0 and hevc in (16, 17, 18, 19, 20, 21, 32, 33, 34, 35, 39) and nxt & 0x07:
        return True  # HEVC: IRAP slice, VPS, SPS, PPS, AUD, prefix SEI (temporal id + 1 > 0)
    # MPEG-4 part 2: visual object sequence, or a video object followed by its layer; VC-1 sequence header
    return code in (0xB0, 0x0F) or (code <= 0x1F and b"\x00\x00\x01\x20" in head[:64])


def ffmpeg_video(path: str | os.PathLike) -> bool:
    """FFmpeg's probe (a few KiB): does the file open with a video stream in a demuxer that is not a text
    or still-image reader? For files that neither their extension nor their magic bytes identify."""
    import av

    try:
        with av.open(str(path), options={"probesize": "65536", "analyzeduration": "0"}) as container:
            names = set(container.format.name.split(","))
            if names & NOT_VIDEO_DEMUXERS or any(n.endswith("_pipe") for n in names):
                return False
            cover = av.stream.Disposition.attached_pic
            return any(not s.disposition & cover for s in container.streams.video)
    except Exception:  # noqa: BLE001 - any failure to open means "not a video" here
        return False


def is_video_name(name: str) -> bool | None:
    """True/False from the extension alone, None when it needs sniffing."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext in VIDEO_EXTENSIONS:
        return True
    if ext in NOT_VIDEO_EXTENSIONS:
        return False
    return None


def _classify(path: str, found: Discovery, key: str) -> None:
    verdict = is_video_name(os.path.basename(path))
    if verdict is False:  # a video under a wrong name still counts: magic bytes, confirmed by FFmpeg
        if sniff_video(path) and ffmpeg_video(path):
            found.videos.append(VideoFile(path, key))
        else:
            found.skip(path, SKIP_EXTENSION)
    elif verdict or sniff_video(path) or ffmpeg_video(path):
        found.videos.append(VideoFile(path, key))
    else:
        found.skip(path, SKIP_CONTENT)


def _walk(root: str, recursive: bool, found: Discovery) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        if recursive:
            for name in [d for d in dirnames if d.startswith(".")]:
                found.skip(os.path.join(dirpath, name) + os.sep, SKIP_HIDDEN)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        else:
            dirnames[:] = []
        for name in filenames:
            path = os.path.normpath(os.path.join(dirpath, name))
            if name.startswith(".") or not os.path.isfile(path):
                found.skip(path, SKIP_HIDDEN if name.startswith(".") else SKIP_SPECIAL)
                continue
            _classify(path, found, os.path.relpath(path, root))


def _glob(pattern: str, recursive: bool, found: Discovery) -> None:
    matches = sorted(glob.glob(pattern, recursive=True))
    if not matches:
        found.empty_globs.append(pattern)
    for match in matches:
        if os.path.isdir(match):
            _walk(match, recursive, found)
        elif os.path.isfile(match):
            path = os.path.normpath(match)
            _classify(path, found, path)


def read_list_file(path: str) -> list[str]:
    """Inputs from a text file: one per line, ``#`` comments and blank lines skipped."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise UsageError(
            f"{path}: cannot read the list of inputs: {exc.strerror}", "check the @LIST / --from-file path"
        ) from exc
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def expand_inputs(inputs: list[str], from_files: Sequence[str] = ()) -> list[str]:
    """Replace every ``@LIST`` (and each ``--from-file``) by the lines of that file."""
    out: list[str] = []
    for item in inputs:
        out.extend(read_list_file(item[1:]) if item.startswith("@") and len(item) > 1 else [item])
    for path in from_files:
        out.extend(read_list_file(path))
    return out


def discover(inputs: list[str], *, recursive: bool = True) -> Discovery:
    """Resolve folders/globs/files (already expanded from lists) into the sorted videos to score."""
    found = Discovery()
    for item in inputs:
        if os.path.isdir(item):
            _walk(item, recursive, found)
        elif not os.path.exists(item) and GLOB_CHARS & set(item):
            _glob(item, recursive, found)
        else:  # an explicit file, even a missing one: scored (or error-rowed) as given
            path = os.path.normpath(item)
            found.videos.append(VideoFile(path, path))
    found.sort()
    return found


# --- sharding -----------------------------------------------------------------------------------
def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` (1-based: ``1/4`` .. ``4/4``) → 0-based ``(index, count)``."""
    fix = (
        "write --shard K/N with 1 <= K <= N, e.g. --shard 1/4 ... --shard 4/4 (for a 0-based "
        "SLURM_ARRAY_TASK_ID use --shard $((SLURM_ARRAY_TASK_ID+1))/N)"
    )
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise UsageError(f"bad --shard '{text}'", fix) from None
    if n < 1 or not 1 <= k <= n:
        raise UsageError(f"bad --shard '{text}': K must be between 1 and N", fix)
    return k - 1, n


def path_hash(key: str) -> int:
    """Stable 64-bit hash of a file's key (path relative to the input root, ``/``-separated): SHA-1.

    A hash rather than a position in the sorted list: shards started at different times (Slurm
    arrays) still agree on who owns each file even if the folder gained files in between."""
    digest = hashlib.sha1(key.replace(os.sep, "/").encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big")


def select_shard(
    videos: list[VideoFile], index: int, count: int, *, rank: int = 0, world: int = 1
) -> list[VideoFile]:
    """Files of shard ``index`` of ``count`` (hash mod count), then of process ``rank`` of ``world``
    inside it ((hash // count) mod world): shards agree whatever process count each one runs with."""
    if count == 1 and world == 1:
        return list(videos)
    out = []
    for video in videos:
        h = path_hash(video.key)
        if h % count == index and (h // count) % world == rank:
            out.append(video)
    return out
