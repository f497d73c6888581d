"""HLS (``.m3u8``) and DASH (``.mpd``) manifests, by URL or local file: list the video variants, choose one
(or all), and copy a variant's media into one local file that is then scored like any video.

The variant's file is its segments joined byte for byte (DASH and fMP4 HLS: the initialization segment,
then the media segments; MPEG-TS HLS: the segments), which is what a player's demuxer reads: nothing is
re-encoded or re-muxed, so timestamps, frames and scores are exactly those of the rendition read locally.
We parse the manifests ourselves (standard library: text lines, :mod:`xml.etree`) because the FFmpeg that
PyAV bundles has no DASH demuxer (it needs libxml2); one parser per format keeps both on the same download
rules as plain URLs (inputs/http.py: time-outs, size cap, redirects, TLS, credentials never shown).

Supported: VOD HLS (master or media playlist, ``EXT-X-MAP``, ``#EXTINF``), static DASH (``SegmentTemplate``
with ``$Number$``/``$Time$`` and ``SegmentTimeline`` or ``@duration``, ``SegmentList``, or one ``BaseURL``
file); the first ``Period``. Refused in one line: encrypted HLS (``EXT-X-KEY``), byte-range segments,
live (no ``EXT-X-ENDLIST`` / ``type="dynamic"``) manifests, a manifest without a video variant (exit 3).
A remote manifest's references must be ``http(s)`` (never ``file:``).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

from ..errors import ManifestError, UsageError
from .given import DEFAULT_VARIANT, InputKind, input_kind, is_network, shown
from .http import Identity, Limits, download, fetch_text

VARIANT_HELP = (
    "HLS/DASH: the variant to score: highest (default: the highest bandwidth), lowest, all (each its own "
    "record), N (the Nth video variant as listed, from 0) or HEIGHTp (e.g. 720p)"
)
_AUDIO_CODECS = ("mp4a", "ac-3", "ec-3", "opus", "flac", "mp3", "vorbis", "alac", "dtsc")


@dataclass
class Variant:
    """One video rendition: ``index`` (0-based, in the manifest's order among video variants),
    ``bandwidth`` (bits/s as announced), ``width``/``height`` (pixels, None when not announced),
    ``init`` (initialization segment reference or None) and ``segments`` (references, in order)."""

    index: int
    bandwidth: int | None
    width: int | None
    height: int | None
    uri: str = ""  # HLS: the media playlist (resolved when chosen)
    init: str | None = None
    segments: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, object]:
        return {
            k: v
            for k, v in (
                ("variant", self.index),
                ("bandwidth", self.bandwidth),
                ("width", self.width),
                ("height", self.height),
            )
            if v is not None
        }


def check_variant(value: str | None) -> str:
    """``--variant`` checked (UsageError, exit 2, for anything but the documented spellings)."""
    text = (value or DEFAULT_VARIANT).strip().lower()
    if text in ("highest", "lowest", "all") or text.isdigit() or re.fullmatch(r"\d+p", text):
        return text
    raise UsageError(f"--variant {value!r} is not a variant", VARIANT_HELP)


def single_variant(value: str | None, command: str) -> str | None:
    """``--variant`` of a command that reads one variant per manifest (``ask``, ``batch``, ``compare``: one
    record or row per input): checked, and ``all`` refused (UsageError, exit 2)."""
    if value is not None and check_variant(value) == "all":
        raise UsageError(
            f"{command} reads one variant per manifest", "give --variant N, HEIGHTp, highest or lowest"
        )
    return value


def choose(variants: list[Variant], selector: str, name: str) -> list[Variant]:
    """The variants ``selector`` (:func:`check_variant`) picks; ManifestError naming ``name`` when none."""
    if not variants:
        raise ManifestError(name, "the manifest lists no video variant", "give a manifest with video")
    by_rate = sorted(variants, key=lambda v: (v.bandwidth or 0, v.height or 0, -v.index))
    if selector == "all":
        return list(variants)
    if selector == "highest":
        return [by_rate[-1]]
    if selector == "lowest":
        return [by_rate[0]]
    if selector.endswith("p"):
        found = [v for v in by_rate if v.height == int(selector[:-1])]
        if found:
            return [found[-1]]
    elif int(selector) < len(variants):
        return [variants[int(selector)]]
    listed = ", ".join(f"{v.index}: {v.height or '?'}p {v.bandwidth or '?'} b/s" for v in variants)
    raise ManifestError(name, f"no variant {selector} (the manifest has {listed})", "pick one of these")


class Reader:
    """Reads a manifest and the files it references, local or remote, under one input's ``limits``; the
    bytes taken are counted in ``used``. ``given``: the input as given (credentials kept for requests)."""

    def __init__(self, given: str, limits: Limits):
        self.given, self.limits, self.used = given, limits, 0
        self.remote = is_network(given)
        self.name = shown(given)

    def text(self) -> tuple[str, str, Identity]:
        """(manifest text, base for its references, identity)."""
        return self.text_at(self.given)

    def text_at(self, ref: str) -> tuple[str, str, Identity]:
        if is_network(ref):
            return fetch_text(ref, self.limits)
        try:
            data = Path(ref).read_bytes()
            return data.decode("utf-8-sig"), os.path.abspath(ref), Identity(content_length=len(data))
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(self.name, f"cannot read the manifest ({exc})", "check the path") from None

    def resolve(self, base: str, ref: str) -> str:
        """``ref`` against ``base``; a remote manifest may only name http(s) references."""
        if is_network(base) or is_network(ref):
            url = urljoin(base, ref)
            if not is_network(url):
                raise ManifestError(
                    self.name,
                    f"references a non-HTTP resource ({urlsplit(url).scheme}:)",
                    "a remote manifest may only reference http(s) URLs",
                )
            return url
        if "://" in ref or ref.startswith("data:"):
            raise ManifestError(self.name, f"unsupported reference {ref[:40]!r}", "use relative paths")
        return os.path.join(os.path.dirname(base), ref)

    def copy(self, ref: str, dest: BinaryIO) -> None:
        if is_network(ref):
            n, _, _ = download(ref, dest, self.limits, self.used)
            self.used += n
            return
        try:
            with open(ref, "rb") as src:
                while chunk := src.read(1 << 20):
                    self.used += len(chunk)
                    if self.used > self.limits.max_bytes:
                        raise ManifestError(
                            self.name, "larger than the cap on inputs", "raise VQA2_NET_MAX_GB"
                        )
                    dest.write(chunk)
        except OSError as exc:
            raise ManifestError(self.name, f"a segment cannot be read ({exc})", "check the files") from None


def list_variants(reader: Reader) -> tuple[list[Variant], Identity]:
    """The video variants of the manifest ``reader`` reads (HLS or DASH by the name's suffix)."""
    text, base, ident = reader.text()
    if input_kind(reader.given) is InputKind.DASH:
        return parse_mpd(text, base, reader), ident
    return parse_master(text, base, reader), ident


def materialize_variant(reader: Reader, variant: Variant, dest: BinaryIO) -> None:
    """Write ``variant``'s media (init, then each segment) into ``dest``."""
    if variant.uri:  # HLS: the media playlist lists the segments
        text, base, _ = reader.text_at(variant.uri)
        variant.init, variant.segments = parse_media(text, base, reader)
    if not variant.segments:
        raise ManifestError(reader.name, "the chosen variant lists no segment", "check the manifest")
    for ref in ([variant.init] if variant.init else []) + variant.segments:
        reader.copy(ref, dest)


# --- HLS ------------------------------------------------------------------------------------------
def _attributes(line: str) -> dict[str, str]:
    text = line.split(":", 1)[1] if ":" in line else ""
    return {k: v.strip('"') for k, v in re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', text)}


def parse_master(text: str, base: str, reader: Reader) -> list[Variant]:
    """HLS: the video variants of a master playlist; a media playlist is one variant (itself)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("#EXTM3U"):
        raise ManifestError(reader.name, "not an HLS playlist (no #EXTM3U)", "check the URL or file")
    if any(line.startswith("#EXTINF") for line in lines):
        return [Variant(0, None, None, None, uri=base)]
    variants: list[Variant] = []
    pending: dict[str, str] | None = None
    for line in lines:
        if line.startswith("#EXT-X-STREAM-INF"):
            pending = _attributes(line)
        elif pending is not None and not line.startswith("#"):
            codecs = pending.get("CODECS", "").lower()
            audio_only = codecs and all(c.strip().startswith(_AUDIO_CODECS) for c in codecs.split(","))
            if not audio_only:
                w, h = (pending.get("RESOLUTION", "x").lower().split("x") + [""])[:2]
                variants.append(
                    Variant(
                        len(variants),
                        _int(pending.get("BANDWIDTH")),
                        _int(w),
                        _int(h),
                        uri=reader.resolve(base, line),
                    )
                )
            pending = None
    return variants


def parse_media(text: str, base: str, reader: Reader) -> tuple[str | None, list[str]]:
    """HLS media playlist → (init segment or None, segments). Refuses encryption, byte ranges, live."""
    init, segments = None, []
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("#EXT-X-KEY") and _attributes(line).get("METHOD", "NONE") != "NONE":
            raise ManifestError(
                reader.name, "encrypted HLS (EXT-X-KEY) is not supported", "give a clear stream"
            )
        if line.startswith("#EXT-X-BYTERANGE") or (line.startswith("#EXT-X-MAP") and "BYTERANGE" in line):
            raise ManifestError(
                reader.name, "byte-range HLS segments are not supported", "give whole segments"
            )
        if line.startswith("#EXT-X-MAP"):
            init = reader.resolve(base, _attributes(line).get("URI", ""))
        elif not line.startswith("#"):
            segments.append(reader.resolve(base, line))
    if "#EXT-X-ENDLIST" not in lines:
        raise ManifestError(
            reader.name,
            "a live playlist (no #EXT-X-ENDLIST): its length is not known",
            "score a VOD playlist, or a recording of the stream",
        )
    return init, segments


# --- DASH -----------------------------------------------------------------------------------------
def _int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _seconds(iso: str | None) -> float | None:
    """An ISO-8601 duration (``PT1H2M3.5S``) in seconds."""
    m = re.fullmatch(r"P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", (iso or "").strip())
    if not m:
        return None
    d, h, mi, s = (float(x) if x else 0.0 for x in m.groups())
    return d * 86400 + h * 3600 + mi * 60 + s


def _fill(template: str, rep_id: str, bandwidth: int | None, number=None, time=None) -> str:
    def sub(m: re.Match) -> str:
        name, fmt = m.group(1), m.group(2)
        if name == "":
            return "$"
        value = {"RepresentationID": rep_id, "Bandwidth": bandwidth, "Number": number, "Time": time}[name]
        return (fmt % value) if fmt and isinstance(value, int) else str(value)

    return re.sub(r"\$(RepresentationID|Bandwidth|Number|Time|)(%0\d+d)?\$", sub, template)


def parse_mpd(text: str, base: str, reader: Reader) -> list[Variant]:
    """DASH: the video representations of the first period of a static MPD, with their segments."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ManifestError(reader.name, f"not a DASH manifest ({exc})", "check the URL or file") from None
    ns = {"d": root.tag[1:].split("}")[0]} if root.tag.startswith("{") else {"d": ""}
    q = (lambda tag: f"d:{tag}") if ns["d"] else (lambda tag: tag)
    if root.get("type", "static") == "dynamic":
        raise ManifestError(reader.name, "a live DASH manifest (type=dynamic)", "score a static manifest")
    period = root.find(q("Period"), ns)
    if period is None:
        raise ManifestError(reader.name, "the manifest has no Period", "check the manifest")
    total_s = _seconds(period.get("duration")) or _seconds(root.get("mediaPresentationDuration"))
    base = _base(root, base, reader, q, ns)
    base = _base(period, base, reader, q, ns)
    variants: list[Variant] = []
    for aset in period.findall(q("AdaptationSet"), ns):
        aset_base = _base(aset, base, reader, q, ns)
        for rep in aset.findall(q("Representation"), ns):
            mime = rep.get("mimeType") or aset.get("mimeType") or ""
            kind = aset.get("contentType") or mime.split("/")[0]
            if kind != "video":
                continue
            variant = Variant(
                len(variants),
                _int(rep.get("bandwidth")),
                _int(rep.get("width") or aset.get("width")),
                _int(rep.get("height") or aset.get("height")),
            )
            rep_base = _base(rep, aset_base, reader, q, ns)
            _segments(variant, rep, aset, period, rep_base, total_s, reader, q, ns)
            variants.append(variant)
    return variants


def _base(node, base: str, reader: Reader, q, ns) -> str:
    found = node.find(q("BaseURL"), ns)
    return reader.resolve(base, found.text.strip()) if found is not None and found.text else base


def _segments(variant: Variant, rep, aset, period, base: str, total_s, reader: Reader, q, ns) -> None:
    rep_id, bw = rep.get("id", ""), variant.bandwidth
    template = next(
        (
            n.find(q("SegmentTemplate"), ns)
            for n in (rep, aset, period)
            if n.find(q("SegmentTemplate"), ns) is not None
        ),
        None,
    )
    seglist = rep.find(q("SegmentList"), ns)
    if template is not None:
        if template.get("initialization"):
            variant.init = reader.resolve(base, _fill(template.get("initialization"), rep_id, bw))
        media, number = template.get("media", ""), _int(template.get("startNumber")) or 1
        timeline = template.find(q("SegmentTimeline"), ns)
        refs = []
        if timeline is not None:
            t = 0
            for s in timeline.findall(q("S"), ns):
                t = _int(s.get("t")) or 0 if s.get("t") is not None else t
                d, r = _int(s.get("d")) or 0, _int(s.get("r")) or 0
                for _ in range(r + 1):
                    refs.append(_fill(media, rep_id, bw, number=number, time=t))
                    number, t = number + 1, t + d
        else:
            duration, scale = _int(template.get("duration")), _int(template.get("timescale")) or 1
            if not duration or not total_s:
                raise ManifestError(reader.name, "a SegmentTemplate without timeline or duration", "check it")
            count = math.ceil(total_s * scale / duration - 1e-9)
            refs = [_fill(media, rep_id, bw, number=number + i) for i in range(count)]
        variant.segments = [reader.resolve(base, r) for r in refs]
    elif seglist is not None:
        init = seglist.find(q("Initialization"), ns)
        if init is not None and init.get("sourceURL"):
            variant.init = reader.resolve(base, init.get("sourceURL"))
        variant.segments = [
            reader.resolve(base, s.get("media", "")) for s in seglist.findall(q("SegmentURL"), ns)
        ]
    else:
        variant.segments = [base]  # SegmentBase / one BaseURL: the representation is one file
