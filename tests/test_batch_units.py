"""Batch building blocks without a model: discovery, sniffing, shards, resume files, prefetching, the loop."""

from __future__ import annotations

import json
import os
import random
import threading
import time

import pytest

from vqa2cli.config import Settings
from vqa2cli.errors import DecodeFailedError, ModelRuntimeError, UsageError
from vqa2cli.jobs import discover as D
from vqa2cli.jobs import resume as R
from vqa2cli.jobs.distributed import Distributed, detect_distributed, wait_for_ranks, write_marker
from vqa2cli.jobs.loop import JobStats as BatchStats
from vqa2cli.jobs.loop import Todo, error_row_factory, plan_todo, run_batch
from vqa2cli.jobs.prefetch import prefetch
from vqa2cli.records.results import SCORE_COLUMNS, ScoreRecord

MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
M4A_HEAD = b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00M4A isom"


def _write(path, data=b"x" * 64):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- discovery ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "head, expected",
    [
        (MP4_HEAD, True),
        (M4A_HEAD, False),
        (b"\x1a\x45\xdf\xa3" + b"\x00" * 20, True),
        (b"RIFF\x00\x00\x00\x00AVI LIST", True),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", False),
        (bytes([0x47] + [0] * 187) * 3, True),
        (b"YUV4MPEG2 W64 H48", True),
        (b"DKIF\x00\x00 \x00VP80", True),
        (b"GIF89a" + b"\x00" * 10, True),
        (b"FLV\x01\x05" + b"\x00" * 10, True),
        (b"%PDF-1.4 hello world", False),
        (b"ID3\x04\x00" + b"\x00" * 20, False),
        (b"tiny", False),
    ],
)
def test_sniff_magic_bytes(tmp_path, head, expected):
    assert D.sniff_video(_write(tmp_path / "noext", head)) is expected


def test_discover_tree_filters_sorts_and_counts(tmp_path):
    root = tmp_path / "in"
    videos = [
        _write(root / "b.MP4"),
        _write(root / "a.mkv"),
        _write(root / "sub" / "deep" / "c.WebM"),
        _write(root / "sub" / "clip_noext", MP4_HEAD),
        _write(root / "sub" / "x.y4m"),
    ]
    ignored = [
        _write(root / "notes.txt"),
        _write(root / "song.m4a", M4A_HEAD),
        _write(root / "sub" / "blob", b"just text, not a container"),
        _write(root / ".DS_Store"),
        _write(root / "._b.mp4"),
        _write(root / ".hidden" / "z.mp4"),
    ]
    found = D.discover([str(root)])
    assert [v.path for v in found.videos] == sorted(os.path.normpath(p) for p in map(str, videos))
    assert len(found.ignored) == len(ignored)
    flat = D.discover([str(root)], recursive=False)
    assert {os.path.basename(v.path) for v in flat.videos} == {"a.mkv", "b.MP4"}


def test_glob_list_file_and_explicit_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("d/one.mp4", "d/two.mov", "d/s/three.ts", "d/readme.md"):
        _write(tmp_path / name)
    (tmp_path / "list.txt").write_text("# comment\n\nd/s\nmissing.mp4\nd/*.mov\n")
    inputs = D.expand_inputs(["@list.txt", "d/**/*.mp4", str(tmp_path / "d" / "one.mp4"), "./d/one.mp4"])
    found = D.discover(inputs)
    assert [v.path for v in found.videos] == sorted(
        [
            os.path.join("d", "one.mp4"),
            os.path.join("d", "s", "three.ts"),
            os.path.join("d", "two.mov"),
            "missing.mp4",
        ]
    )
    assert D.discover(["nothing/*.mp4"]).empty_globs == ["nothing/*.mp4"]
    with pytest.raises(UsageError, match="nope.txt"):
        D.expand_inputs(["@nope.txt"])


# --- shards -------------------------------------------------------------------------------------
def test_shards_cover_every_file_exactly_once():
    rng = random.Random(1)
    videos = [D.VideoFile(f"p/{rng.random():.12f}.mp4", f"{rng.random():.12f}.mp4") for _ in range(300)]
    for count in (1, 2, 3, 7):
        parts = [D.select_shard(videos, i, count) for i in range(count)]
        flat = [v for part in parts for v in part]
        assert sorted(v.path for v in flat) == sorted(v.path for v in videos)
        if count > 1:
            assert all(len(p) > 300 / count / 2 for p in parts)  # a hash spreads them
        for world in (2, 3):  # each shard run by a different number of processes still covers it
            for i, part in enumerate(parts):
                ranks = [D.select_shard(videos, i, count, rank=r, world=world) for r in range(world)]
                assert sorted(v.path for r in ranks for v in r) == sorted(v.path for v in part)


@pytest.mark.parametrize("text", ["0/4", "5/4", "a/b", "3", "1/0", "-1/2"])
def test_bad_shard_is_a_usage_error(text):
    with pytest.raises(UsageError, match="--shard"):
        D.parse_shard(text)


def test_shard_is_one_based():
    assert D.parse_shard("1/4") == (0, 4) and D.parse_shard("4/4") == (3, 4)


# --- output files and --resume ------------------------------------------------------------------
def _csv_line(path, status="ok", size=10, mtime=5.0, score=0.5):
    row = {c: "" for c in SCORE_COLUMNS} | {
        "path": path,
        "status": status,
        "size_bytes": size,
        "mtime": mtime,
        "score": score if status == "ok" else "",
    }
    return ",".join(str(row[c]) for c in SCORE_COLUMNS) + "\n"


def test_repair_tail_drops_only_a_torn_line(tmp_path):
    out = tmp_path / "o.csv"
    whole = R.CSV_HEADER + _csv_line("a.mp4")
    out.write_text(whole + _csv_line("b.mp4")[:17])
    assert R.repair_tail(str(out)) == 17
    assert out.read_text() == whole
    assert R.repair_tail(str(out)) == 0


def test_index_matches_path_size_mtime(tmp_path):
    video = _write(tmp_path / "v.mp4", b"0123456789")
    st = os.stat(video)
    out = tmp_path / "o.csv"
    out.write_text(
        R.CSV_HEADER
        + _csv_line(str(video), size=10, mtime=round(st.st_mtime, 6))
        + _csv_line(str(tmp_path / "bad.mp4"), status="error", size=3, mtime=1.0)
        + _csv_line("torn"[:2]).rstrip("\n")
    )  # torn tail: ignored, not parsed
    index = R.DoneIndex()
    index.add_file(R.OutputSpec(str(out), "csv"))
    assert index.match(str(video), (10, st.st_mtime), retry_errors=False).status == "ok"
    assert index.match(str(video), (11, st.st_mtime), retry_errors=False) is None  # changed size
    assert index.match(str(video), (10, st.st_mtime + 2), retry_errors=False) is None  # touched
    bad = str(tmp_path / "bad.mp4")
    assert index.match(bad, (3, 1.0), retry_errors=False).status == "error"
    assert index.match(bad, (3, 1.0), retry_errors=True) is None


def test_jsonl_index_and_foreign_csv(tmp_path):
    out = tmp_path / "o.jsonl"
    rec = ScoreRecord(path="a.mp4", score=0.25, input={"size_bytes": 4, "mtime": 9.5})
    out.write_text(json.dumps(rec.to_dict()) + "\n")
    index = R.DoneIndex()
    index.add_file(R.OutputSpec(str(out), "jsonl"))
    assert index.match("a.mp4", (4, 9.5), retry_errors=False).score == 0.25
    foreign = tmp_path / "f.csv"
    foreign.write_text("name,value\nx,1\n")
    with pytest.raises(UsageError, match="f.csv"):
        R.DoneIndex().add_file(R.OutputSpec(str(foreign), "csv"))


def test_existing_output_needs_resume_or_overwrite(tmp_path):
    out = tmp_path / "o.csv"
    out.write_text(R.CSV_HEADER)
    specs = [R.OutputSpec(str(out), "csv")]
    with pytest.raises(UsageError) as err:
        R.check_existing(specs, resume=False, overwrite=False)
    assert (
        str(out) in err.value.one_line()
        and "--resume" in err.value.one_line()
        and "--overwrite" in err.value.one_line()
    )
    R.check_existing(specs, resume=True, overwrite=False)
    with pytest.raises(UsageError):
        R.check_existing(specs, resume=True, overwrite=True)


def test_merge_parts_once_even_if_repeated(tmp_path):
    final = tmp_path / "o.csv"
    parts = []
    for rank, names in enumerate((["a", '"c\nd"'], ["b"])):  # a path with a newline spans two lines
        part = tmp_path / f"o.csv.rank{rank}"
        part.write_text(R.CSV_HEADER + "".join(_csv_line(n) for n in names))
        parts.append(str(part))
    assert R.existing_parts(str(final)) == parts
    copies = [open(p).read() for p in parts]
    assert R.merge_parts(R.OutputSpec(str(final), "csv"), parts, overwrite=False) == 3
    for p, text in zip(parts, copies):  # a crash before the parts were deleted: merge again
        open(p, "w").write(text)
    assert R.merge_parts(R.OutputSpec(str(final), "csv"), parts, overwrite=False) == 0
    rows = R.read_rows(R.OutputSpec(str(final), "csv"))
    assert final.read_text().startswith(R.CSV_HEADER) and not R.existing_parts(str(final))
    assert [path for path, _ in rows] == ["a", "b", "c\nd"]  # merged rows sorted by path, intact


def test_row_files_round_trip_odd_names_for_resume(tmp_path):
    from vqa2cli.jobs.rowfiles import RowFiles

    names = ['a, b "quoted".mp4', "ü new\nline.mp4", os.fsdecode(b"latin1-\xe9.mp4")]  # last: not UTF-8
    outs = [str(tmp_path / "o.csv"), str(tmp_path / "o.jsonl")]
    rows = RowFiles(outs, ["csv", "jsonl"], append=False)
    for i, name in enumerate(names):
        rows.write(ScoreRecord(path=name, score=0.5, input={"size_bytes": i, "mtime": 1.5}), ())
    rows.close()
    for path, fmt in zip(outs, ("csv", "jsonl")):
        index = R.DoneIndex()
        index.add_file(R.OutputSpec(path, fmt))
        assert all(index.match(n, (i, 1.5), retry_errors=False) for i, n in enumerate(names)), fmt


# --- prefetching and the loop -------------------------------------------------------------------
def test_prefetch_keeps_order_and_bounds_memory():
    live, peak, lock = [0], [0], threading.Lock()

    def prepare(i):
        time.sleep(random.Random(i).random() * 0.01)
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        if i == 5:
            raise ValueError("five")
        return i * 10

    seen = []
    for got in prefetch(range(30), prepare, workers=3, depth=4):
        seen.append((got.item, got.value, type(got.error).__name__ if got.error else None))
        with lock:
            live[0] -= 1
        time.sleep(0.002)
    assert [s[0] for s in seen] == list(range(30))
    assert seen[5] == (5, None, "ValueError") and seen[6][1] == 60
    assert peak[0] <= 4 + 1  # depth in flight + the one the consumer holds


class SleepScorer:
    """prepare/run that only sleep (release the CPU), so overlap is measurable on a busy machine."""

    def __init__(self, t_prepare=0.0, t_run=0.0, fail_run=()):
        self.t_prepare, self.t_run, self.fail_run, self.order = t_prepare, t_run, set(fail_run), []

    def prepare(self, path):
        time.sleep(self.t_prepare)
        if "broken" in path:
            raise DecodeFailedError(path, "cannot decode")
        if "bug" in path:
            raise ZeroDivisionError("oops")
        return path

    def run(self, prepared):
        time.sleep(self.t_run)
        self.order.append(prepared)
        if prepared in self.fail_run:
            raise ModelRuntimeError("out of GPU memory while scoring")
        return ScoreRecord(path=prepared, score=0.1 if "low" in prepared else 0.9)


def test_loop_turns_every_failure_into_a_row():
    rows = []
    scorer = SleepScorer(fail_run={"oom.mp4"})
    todo = [Todo(p, ()) for p in ("a.mp4", "broken.mp4", "bug.mp4", "oom.mp4", "low.mp4")]
    stats = run_batch(
        todo,
        scorer,
        lambda r, t: rows.append(r),
        make_error=error_row_factory(Settings()),
        workers=2,
        depth=2,
        stats=BatchStats(),
        fail_under=0.5,
    )
    assert [r.path for r in rows] == [t.path for t in todo]
    codes = {r.path: r.error_code for r in rows}
    assert codes == {
        "a.mp4": None,
        "broken.mp4": "decode_failed",
        "bug.mp4": "internal_error",
        "oom.mp4": "runtime_error",
        "low.mp4": None,
    }
    assert "ZeroDivisionError" in rows[2].error
    assert (stats.ok, stats.failed, stats.below) == (2, 3, 1)


def test_three_model_failures_in_a_row_stop_the_batch():
    names = [f"{i}.mp4" for i in range(5)]
    scorer = SleepScorer(fail_run=set(names))
    with pytest.raises(ModelRuntimeError):
        run_batch(
            [Todo(n, ()) for n in names],
            scorer,
            lambda r, t: None,
            make_error=error_row_factory(Settings()),
            workers=1,
            depth=1,
            stats=BatchStats(),
        )
    assert len(scorer.order) == 3


class HandshakeScorer:
    """``run(i)`` returns only once ``prepare(i + 1)`` has started: without overlap it times out. An ordering,
    not a timing: it holds on a machine under any load (the overlap's speed-up is in benchmarks/batch.py)."""

    def __init__(self, n: int):
        import threading

        self.started = [threading.Event() for _ in range(n + 1)]
        self.overlapped = []

    def prepare(self, path):
        self.started[int(path.split(".")[0])].set()
        return path

    def run(self, prepared):
        i = int(prepared.split(".")[0])
        nxt = i + 1 if i + 1 < len(self.started) - 1 else None
        self.overlapped.append(nxt is None or self.started[nxt].wait(timeout=30))
        return ScoreRecord(path=prepared, score=0.9)


def test_decode_overlaps_model():
    n = 12
    scorer = HandshakeScorer(n)
    stats = run_batch(
        [Todo(f"{i}.mp4", ()) for i in range(n)],
        scorer,
        lambda r, tg: None,
        make_error=error_row_factory(Settings()),
        workers=2,
        depth=4,
        stats=BatchStats(),
    )
    assert (
        stats.ok == n and scorer.overlapped == [True] * n
    )  # the next clip was being decoded during each run


def test_ctrl_c_keeps_written_rows():
    rows = []

    def sink(record, targets):
        rows.append(record)
        if len(rows) == 2:
            raise KeyboardInterrupt

    stats = run_batch(
        [Todo(f"{i}.mp4", ()) for i in range(6)],
        SleepScorer(),
        sink,
        make_error=error_row_factory(Settings()),
        workers=2,
        depth=2,
        stats=BatchStats(),
    )
    assert stats.interrupted and len(rows) == 2


def test_plan_skips_done_files_per_output(tmp_path):
    a, b = _write(tmp_path / "a.mp4"), _write(tmp_path / "b.mp4")
    full, half = R.DoneIndex(), R.DoneIndex()
    for path in (a, b):
        st = os.stat(path)
        full.rows[R.path_key(str(path))] = R.RowState("ok", st.st_size, st.st_mtime, 0.3)
    half.rows[R.path_key(str(a))] = full.rows[R.path_key(str(a))]
    stats = BatchStats()
    todo = plan_todo([str(a), str(b)], [full, half], retry_errors=False, stats=stats, fail_under=0.5)
    assert [(t.path, t.targets) for t in todo] == [(str(b), (1,))]  # only the output lacking it
    assert (stats.resumed_ok, stats.below) == (1, 1)


# --- multi-process ------------------------------------------------------------------------------
def test_detect_distributed_env():
    assert detect_distributed({}) is None and detect_distributed({"WORLD_SIZE": "1"}) is None
    d = detect_distributed({"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "2"})
    assert (d.rank, d.world, d.local_rank) == (2, 4, 2)


def test_rank0_waits_for_markers_of_this_launch(tmp_path):
    first = str(tmp_path / "o.csv")
    old = Distributed(1, 2, 1, "previous-launch")
    write_marker(first, old, BatchStats(ok=100))  # stale marker from an earlier run
    r0, r1 = Distributed(0, 2, 0, "now"), Distributed(1, 2, 1, "now")
    write_marker(first, r0, BatchStats(ok=2, failed=1))
    threading.Timer(0.3, write_marker, (first, r1, BatchStats(ok=3, resumed_ok=4))).start()
    total = wait_for_ranks(first, r0, poll_s=0.05)
    assert (total.ok, total.failed, total.resumed_ok) == (5, 1, 4)
    assert not list(tmp_path.glob("*.done"))


def test_cpu_model_leaves_a_core_per_worker(monkeypatch):
    import torch

    from vqa2cli.jobs.loop import share_cpu_with_workers

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(8)
        assert share_cpu_with_workers("cuda", 2) is None and torch.get_num_threads() == 8
        assert share_cpu_with_workers("cpu", 0) is None and torch.get_num_threads() == 8
        assert share_cpu_with_workers("cpu", 3) == 8 and torch.get_num_threads() == 5
        torch.set_num_threads(8)
        monkeypatch.setenv("OMP_NUM_THREADS", "8")  # the user's choice wins
        assert share_cpu_with_workers("cpu", 3) is None and torch.get_num_threads() == 8
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("flag", ["csv", "jsonl"])
def test_batch_refuses_stdout_dash_as_an_output_file(tmp_path, monkeypatch, flag):
    """``--jsonl -`` / ``--csv -`` would create a file literally named ``-``: refused, exit 2, nothing written."""
    from vqa2cli.jobs.engine import JobSpec as BatchJob

    monkeypatch.chdir(tmp_path)
    job = BatchJob(inputs=[str(tmp_path)], **{flag: "-"})
    with pytest.raises(UsageError) as err:
        job.validate()
    assert (
        err.value.exit_code == 2
        and f"--{flag} -" in str(err.value)
        and "vqa2 score --format" in str(err.value)
    )
    assert not os.listdir(tmp_path)
