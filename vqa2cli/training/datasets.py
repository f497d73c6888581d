"""Training and evaluation data readers: official instruction JSON, official label JSON, ``path,mos`` CSV.

* Instruction JSON (spec §6): a list of ``{"image": <path>, "frames per sec": <int>, "conversations":
  [{"from": "human", "value": "...<image>...<image>..."}, {"from": "gpt", "value": "..."}], "gt_score",
  "id"}``. ``frames per sec`` marks a video sample (its value is ignored, as officially); a record without
  it whose file is an image is an image sample (stage-1 spatial).
* Label JSON (spec §7): a list of ``{"img_path" | "video_path": <path>, "mos" | "gt_score": <number>}``,
  optionally ``"stalling"`` (below).
* CSV: a header with ``path`` and ``mos`` columns, optionally ``stalling``. For training it becomes stage-2
  scoring instructions (labels.py: MOS → level → ``The quality of the video is {level}.``).

``stalling`` (evaluation labels, for the streaming scorer): ``none`` for smooth playback or one 0/1 character
per frame (1 = stalled), as ``vqa2 score --stalling``; empty or absent = no stalling information.

Relative paths resolve against ``media_root`` (official ``--video_folder``; default: the data file's
folder). Every problem raises :class:`DataError` naming the file and the record index.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataError
from . import labels

IMAGE_MARKER = "<image>"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
GUESS_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v")  # label files that omit extensions


@dataclass(frozen=True)
class TrainSample:
    """One supervised example: a media file, the user turn (with ``<image>`` markers) and the answer."""

    index: int  # record index in the data file (0-based), for error messages
    media: Path
    kind: str  # "video" | "image"
    user: str | None  # None: use the scoring prompt of the model card (CSV-derived samples)
    answer: str
    gt_score: float | None = None
    id: str | None = None
    level: str | None = None  # CSV-derived: the level word; the answer is then "<prompt prefix> <level>."


@dataclass(frozen=True)
class LabelRecord:
    index: int
    path: Path
    mos: float
    stalling: str | None = None  # "none" or a 0/1 string per frame; None = not given
    line: int | None = None  # 1-based line of the file it came from (CSV labels); None for JSON

    @property
    def where(self) -> str:
        """How messages name it: ``line N`` (CSV: the file's line number) or ``record N`` (JSON index)."""
        return f"line {self.line}" if self.line is not None else f"record {self.index}"


def _fail(source: Path, index: int | str | None, message: str, fix: str | None = None) -> DataError:
    """``index``: a record's 0-based index (JSON), or a ready label such as ``"line 7"`` (CSV)."""
    if index is None:
        where = f"{source}"
    else:
        where = f"{source}: {index}" if isinstance(index, str) else f"{source}: record {index}"
    return DataError(f"{where}: {message}", fix)


def _load_json_list(source: Path) -> list[Any]:
    if not source.is_file():
        raise DataError(f"{source}: data file not found", "check the path")
    try:
        data = json.loads(source.read_text(encoding="utf-8-sig"))  # a byte-order mark is not an error
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{source}: not valid JSON ({exc})") from exc
    if not isinstance(data, list) or not data:
        raise DataError(f"{source}: expected a non-empty JSON list of records")
    return data


def resolve_media(source: Path, index: int | str, raw: Any, media_root: Path) -> Path:
    """The media file of one record; a missing file is a DataError naming the record."""
    if not isinstance(raw, str) or not raw.strip():
        raise _fail(source, index, f"media path must be a non-empty string, got {raw!r}")
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = media_root / path
    if path.is_file():
        return path
    if not path.suffix:
        for suffix in GUESS_SUFFIXES:
            if path.with_suffix(suffix).is_file():
                return path.with_suffix(suffix)
    raise _fail(
        source,
        index,
        f"media file not found: {path}",
        "fix the path or pass --media-root with the folder the paths are relative to",
    )


def _number(source: Path, index: int | str, key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _fail(source, index, f"'{key}' must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise _fail(source, index, f"'{key}' must be finite, got {value!r}")
    return number


def _stalling(source: Path, index: int | str, value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = value.strip() if isinstance(value, str) else None
    if text is None or not (text.lower() in ("none", "smooth") or set(text) <= {"0", "1"}):
        raise _fail(
            source,
            index,
            f"'stalling' must be 'none' or a string of 0/1 per frame, got {value!r}",
            "e.g. 0000011110000 (1 = stalled frame), or none for smooth playback",
        )
    return text


def _conversation(source: Path, index: int, record: dict) -> tuple[str, str]:
    turns = record.get("conversations")
    if not isinstance(turns, list) or len(turns) != 2:
        raise _fail(
            source,
            index,
            "'conversations' must be a list of two turns (human, gpt)",
            "multi-turn conversations are not supported; split them into records",
        )
    froms = [t.get("from") if isinstance(t, dict) else None for t in turns]
    if froms != ["human", "gpt"]:
        raise _fail(source, index, f"turns must come from ['human', 'gpt'], got {froms}")
    user, answer = (t.get("value") for t in turns)
    if not isinstance(user, str) or not isinstance(answer, str) or not answer.strip():
        raise _fail(source, index, "both turns need a non-empty text 'value'")
    markers = user.count(IMAGE_MARKER)
    if markers not in (1, 2):
        raise _fail(
            source,
            index,
            f"the human turn must hold one or two '{IMAGE_MARKER}' markers "
            f"(key frames, motion), found {markers}",
        )
    return user, answer


def read_instruction_json(source: Path, media_root: Path | None = None) -> list[TrainSample]:
    """The official LLaVA-style instruction data (stages 1–3)."""
    source = Path(source)
    root = media_root or source.parent
    samples = []
    for index, record in enumerate(_load_json_list(source)):
        if not isinstance(record, dict):
            raise _fail(source, index, f"a record must be an object, got {type(record).__name__}")
        if "image" not in record:
            raise _fail(source, index, "missing key 'image' (the media path)")
        media = resolve_media(source, index, record["image"], root)
        is_image = "frames per sec" not in record and media.suffix.lower() in IMAGE_SUFFIXES
        user, answer = _conversation(source, index, record)
        gt = record.get("gt_score")
        samples.append(
            TrainSample(
                index=index,
                media=media,
                kind="image" if is_image else "video",
                user=user,
                answer=answer,
                gt_score=None if gt in (None, "") else _number(source, index, "gt_score", gt),
                id=None if record.get("id") is None else str(record["id"]),
            )
        )
    return samples


def read_label_json(source: Path, media_root: Path | None = None) -> list[LabelRecord]:
    """Official evaluation labels: ``img_path``/``video_path`` + ``mos``/``gt_score``."""
    source = Path(source)
    root = media_root or source.parent
    out = []
    for index, record in enumerate(_load_json_list(source)):
        if not isinstance(record, dict):
            raise _fail(source, index, f"a record must be an object, got {type(record).__name__}")
        path_key = next((k for k in ("video_path", "img_path", "path") if k in record), None)
        mos_key = next((k for k in ("mos", "gt_score") if k in record), None)
        if path_key is None or mos_key is None:
            raise _fail(source, index, "needs a path ('img_path' or 'video_path') and a 'mos' or 'gt_score'")
        out.append(
            LabelRecord(
                index,
                resolve_media(source, index, record[path_key], root),
                _number(source, index, mos_key, record[mos_key]),
                _stalling(source, index, record.get("stalling")),
            )
        )
    return out


def read_label_csv(source: Path, media_root: Path | None = None) -> list[LabelRecord]:
    """:func:`_read_label_csv`, with a row the csv module cannot parse refused naming its line."""
    source = Path(source)
    try:
        return _read_label_csv(source, media_root)
    except csv.Error as exc:
        raise DataError(f"{source}: not a readable CSV ({exc})", "save it as comma-separated UTF-8") from None


def _read_label_csv(source: Path, media_root: Path | None = None) -> list[LabelRecord]:
    """A CSV with a header holding ``path`` and ``mos`` columns, optionally ``stalling`` (others are ignored).

    UTF-8 with or without a byte-order mark (Excel's "CSV UTF-8"); blank lines are skipped. Every problem is
    one DataError naming the file and its 1-based line: a row with more or fewer fields than the header (an
    unquoted decimal comma, ``4,26``), a missing file, a non-numeric or non-finite ``mos``."""
    source = Path(source)
    if not source.is_file():
        raise DataError(f"{source}: data file not found", "check the path")
    root = media_root or source.parent
    with source.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None) or []
        fields = [f.strip().lower() for f in header]
        if "path" not in fields or "mos" not in fields:
            raise DataError(f"{source}: the CSV header must name 'path' and 'mos' columns, got {fields}")
        out = []
        start = reader.line_num + 1
        for cells in reader:
            line, start = start, reader.line_num + 1  # a quoted field may span lines: its first one
            if not cells or not any(c.strip() for c in cells):
                continue
            if len(cells) != len(fields):
                raise DataError(
                    f"{source}: line {line} has {len(cells)} fields, the header {len(fields)}",
                    'quote a field holding a comma ("4,26") or use a dot as the decimal mark (4.26)',
                )
            row = dict(zip(fields, (c.strip() for c in cells)))
            where = f"line {line}"
            out.append(
                LabelRecord(
                    len(out),
                    resolve_media(source, where, row["path"], root),
                    _number(source, where, "mos", row["mos"]),
                    _stalling(source, where, row.get("stalling")),
                    line=line,
                )
            )
    if not out:
        raise DataError(f"{source}: no records")
    return out


def read_labels(source: Path, media_root: Path | None = None) -> list[LabelRecord]:
    """Labels from a ``.json`` (official) or ``.csv`` file."""
    source = Path(source)
    if source.suffix.lower() == ".csv":
        return read_label_csv(source, media_root)
    if source.suffix.lower() == ".json":
        return read_label_json(source, media_root)
    raise DataError(f"{source}: unknown label format", "use the official .json or a .csv with path,mos")


def scoring_samples(records: list[LabelRecord], mos_range: tuple[float, float] | None) -> list[TrainSample]:
    """``path,mos`` labels → stage-2 scoring instructions (the card's scoring prompt, level answers)."""
    low, high = labels.resolve_mos_range([r.mos for r in records], mos_range)
    return [
        TrainSample(
            index=r.index,
            media=r.path,
            kind="video",
            user=None,
            answer=labels.answer_for(r.mos, low, high),
            gt_score=r.mos,
            level=labels.level_for(r.mos, low, high),
        )
        for r in records
    ]


def read_training_data(
    source: Path, media_root: Path | None = None, mos_range: tuple[float, float] | None = None
) -> list[TrainSample]:
    """Any training data file: official instruction ``.json`` or ``path,mos`` ``.csv``."""
    source = Path(source)
    if source.suffix.lower() == ".csv":
        return scoring_samples(read_label_csv(source, media_root), mos_range)
    if source.suffix.lower() == ".json":
        return read_instruction_json(source, media_root)
    raise DataError(
        f"{source}: unknown training data format",
        "use the official instruction .json or a .csv with path,mos columns",
    )


def check_kinds(samples: list[TrainSample], wanted: str, source: Path) -> None:
    """Stage-1 spatial takes images, every other stage videos: name the first record that does not fit."""
    for sample in samples:
        if wanted != "any" and sample.kind != wanted:
            what = "an image" if sample.kind == "image" else "a video"
            raise _fail(
                source, sample.index, f"{sample.media.name} is {what}, but this stage trains on {wanted}s"
            )
