"""Decode worker processes (video/decode_pool.py, jobs/feeding.py): the frames a worker decodes equal the
in-process ones bit for bit, the records through the CLI, the Python API and the server equal the in-process
records, an input error is the same error, a killed worker is that file's decode_failed while the pool goes
on, and no shared-memory name is left in /dev/shm. Every test starts worker processes (``e2e``)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from vqa2cli.config import Settings
from vqa2cli.errors import DecodeFailedError, InputError
from vqa2cli.video import decode_pool
from vqa2cli.video.decode import decode_clip
from vqa2cli.video.decode_pool import DecodePool
from vqa2cli.video.probe import probe_video

pytestmark = pytest.mark.e2e

SHM = Path("/dev/shm")


def _assert_gone(pids) -> None:
    """Every worker in ``pids`` has exited (within about 5 s) and left no shared-memory name behind."""
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)
    assert _shm_names(pids) == []


def _shm_names(pids) -> list[str]:
    """torch's shared-memory names of these processes (``torch_<pid>_...``) still in /dev/shm."""
    if not SHM.is_dir():
        return []
    return [n for n in os.listdir(SHM) if any(n.startswith(f"torch_{pid}_") for pid in pids)]


def _same_clip(a, b) -> None:
    for name in ("keyframes", "motion_frames"):
        x, y = getattr(a, name), getattr(b, name)
        assert type(y) is np.ndarray and y.dtype == np.uint8 and y.shape == x.shape
        assert np.array_equal(x, y), name  # bit for bit
    for name in ("info", "plan", "keyframe_times", "warnings", "resize", "decoded_frames", "damaged_frames"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.resolution_changes == b.resolution_changes


@pytest.fixture(scope="module")
def pool():
    with DecodePool(2) as started:
        yield started


def _record(record) -> dict:
    data = record.to_dict()
    data.pop("timing", None)  # seconds differ between any two runs
    return data


@pytest.mark.parametrize(
    "kind",
    [dict(seconds=3.0, width=96, height=64), dict(seconds=2.0, rotation=90), dict(seconds=2.0, vfr=True)],
)
def test_frames_decoded_in_a_worker_equal_the_in_process_frames_bit_for_bit(pool, make_clip, kind):
    path = make_clip(f"pool-{len(kind)}-{sorted(kind.items())[0]}.mp4", **kind)
    for video in (Settings().video, replace(Settings().video, resize="pil")):
        here = decode_clip(str(path), video)
        there = pool(str(path), video)
        _same_clip(here, there)
        base = there.keyframes.base  # the numpy array is a view of the worker's shared-memory tensor
        assert base is not None and base.is_shared()


def test_an_input_error_in_a_worker_is_the_in_process_error(pool, tmp_path):
    from clips import random_bytes, truncate_copy

    junk = random_bytes(tmp_path / "junk.mp4")
    with pytest.raises(InputError) as here:
        decode_clip(str(junk), Settings().video)
    with pytest.raises(InputError) as there:
        pool(str(junk), Settings().video)
    assert type(there.value) is type(here.value) and there.value.one_line() == here.value.one_line()
    assert there.value.code == here.value.code and there.value.path == str(junk)
    del truncate_copy


def test_a_killed_worker_is_that_files_error_and_the_next_file_decodes(make_clip, tmp_path):
    clip = make_clip("pool-kill.mp4", seconds=2.0)
    fifo = tmp_path / "stuck.mp4"
    os.mkfifo(fifo)
    info = replace(probe_video(str(clip), key_sizes=False), path=str(fifo))  # the worker blocks opening it
    video = Settings().video
    with DecodePool(1) as pool:
        pool(str(clip), video)  # started and warm
        (pid,) = pool.pids()
        outcome: list = []

        def stuck():
            try:
                pool(str(fifo), video, info=info)
            except BaseException as exc:  # noqa: BLE001 - checked below
                outcome.append(exc)

        thread = threading.Thread(target=stuck)
        thread.start()
        time.sleep(1.0)  # the request is sent: the worker is blocked in open() of the FIFO
        os.kill(pid, signal.SIGKILL)
        thread.join(30)
        if thread.is_alive():  # never hang the suite: release the reader
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        assert len(outcome) == 1 and isinstance(outcome[0], DecodeFailedError), outcome
        assert outcome[0].path == str(fifo) and "signal 9" in outcome[0].one_line()
        _same_clip(decode_clip(str(clip), video), pool(str(clip), video))  # a fresh worker took its place
        assert pool.pids() != [pid]
        pids = [pid, *pool.pids()]
    assert _shm_names(pids) == []


def test_a_descriptor_pinned_here_is_decoded_through_the_worker(pool, make_clip):
    from vqa2cli.video.source import pin

    clip = make_clip("pool-pinned.mp4", seconds=2.0)
    pinned = pin(os.open(clip, os.O_RDONLY), "shown-name.mp4")
    try:
        info = probe_video(pinned.key, key_sizes=False)
        here = decode_clip(pinned.key, Settings().video, info=info)
        there = pool(pinned.key, Settings().video, info=info)
    finally:
        pinned.close()
    _same_clip(here, there)
    assert there.info.path == pinned.key


def test_the_workers_end_with_the_pool_and_leave_no_shared_memory(make_clip):
    clip = make_clip("pool-close.mp4", seconds=1.0)
    pool = DecodePool(2)
    frames = pool(str(clip), Settings().video).keyframes
    pids = pool.pids()
    pool.close()
    assert frames.sum() >= 0  # the arrays outlive the workers (the memory is the consumer's now)
    _assert_gone(pids)
    with pytest.raises(RuntimeError):
        pool(str(clip), Settings().video)


def test_ctrl_c_while_clips_are_in_flight_stops_the_workers_and_leaves_no_shared_memory(make_clip):
    from types import SimpleNamespace

    from vqa2cli.jobs.feeding import feeding

    clip = str(make_clip("pool-interrupt.mp4", seconds=3.0, width=160, height=120))
    session = SimpleNamespace(decoder=None, read_ahead=None)
    video = Settings().video
    pids: list = []

    def consume(pool):  # as run_score's loop: the read-ahead is dropped with the interrupted frame
        for done in session.read_ahead([clip] * 8, lambda p: session.decoder(p, video)):
            assert done.error is None and done.value.keyframes.shape[0] > 0
            pids.extend(pool.pids())
            raise KeyboardInterrupt  # two clips being decoded, two threads waiting for a worker

    with pytest.raises(KeyboardInterrupt), feeding(session, workers=4, processes=2) as pool:
        consume(pool)
    assert session.decoder is None and session.read_ahead is None  # as before the run
    for _ in range(100):  # no thread is left waiting (the interpreter could not exit)
        if not any(t.name.startswith("vqa2-prepare") for t in threading.enumerate()):
            break
        time.sleep(0.1)
    assert not any(t.name.startswith("vqa2-prepare") for t in threading.enumerate())
    _assert_gone(pids)


def _count_requests(monkeypatch) -> list:
    sent: list = []
    call = decode_pool._Worker.call

    def counted(self, request):
        sent.append(request[0])
        return call(self, request)

    monkeypatch.setattr(decode_pool._Worker, "call", counted)
    return sent


def test_score_files_through_the_cli_decode_in_processes_with_the_same_records(
    reuse_tiny_scorer, tiny_model_dir, make_clip, capsys, monkeypatch
):
    from cli_run import run

    files = [str(make_clip("pool-cli-a.mp4", seconds=2.0)), str(make_clip("pool-cli-b.mp4", seconds=3.0))]
    code, out, _ = run(
        ["score", *files, "-m", str(tiny_model_dir), "--format", "jsonl", "--workers", "0"], capsys
    )
    assert code == 0
    sent = _count_requests(monkeypatch)
    code, out2, _ = run(
        ["score", *files, "-m", str(tiny_model_dir), "--format", "jsonl", "--decode-processes", "2"], capsys
    )
    assert code == 0 and sorted(sent) == sorted(files)
    strip = (
        [_record_json(line) for line in out.splitlines()],
        [_record_json(line) for line in out2.splitlines()],
    )
    assert strip[0] == strip[1] and len(strip[0]) == 2
    assert reuse_tiny_scorer.decoder is None  # the shared scorer is as it was


@pytest.mark.parametrize(
    "args",
    [
        ["--decode-processes", "-1"],
        ["--workers", "-2"],
        ["--server", "http://127.0.0.1:9", "--decode-processes", "2"],
    ],
)
def test_score_refuses_negative_counts_and_processes_with_a_server(make_clip, tiny_model_dir, capsys, args):
    from cli_run import run

    clip = str(make_clip("pool-cli-a.mp4", seconds=2.0))
    code, _, err = run(["score", clip, "-m", str(tiny_model_dir), *args], capsys)
    assert code == 2 and ("--decode-processes" in err or "--workers" in err), err


def test_batch_decodes_in_processes_with_the_same_rows(
    reuse_tiny_scorer, tiny_model_dir, make_clip, tmp_path, capsys, monkeypatch
):
    from cli_run import run

    folder = tmp_path / "clips"
    folder.mkdir()
    for name, seconds in (("a.mp4", 2.0), ("b.mp4", 3.0)):
        (folder / name).write_bytes(make_clip(f"pool-batch-{name}", seconds=seconds).read_bytes())
    (folder / "c.mp4").write_bytes(b"not a video at all" * 100)
    rows = {}
    for processes in ("0", "2"):
        out = tmp_path / f"rows-{processes}.jsonl"
        sent = _count_requests(monkeypatch)
        args = ["batch", str(folder), "-m", str(tiny_model_dir), "--jsonl", str(out)]
        code, _, _ = run([*args, "--decode-processes", processes], capsys)
        assert code == 3  # c.mp4 is an error row; the others are scored
        assert len(sent) == (0 if processes == "0" else 2)
        rows[processes] = sorted((_record_json(line) for line in out.read_text().splitlines()), key=str)
    assert rows["0"] == rows["2"] and len(rows["0"]) == 3
    assert reuse_tiny_scorer.decoder is None


def test_eval_decodes_in_processes_with_the_same_scores(
    tiny_model_dir, make_clip, tmp_path, capsys, monkeypatch
):
    from cli_run import run

    names = []
    for i, seconds in enumerate((1.0, 1.5, 2.0, 2.5, 3.0)):
        clip = make_clip(f"pool-eval-{i}.mp4", seconds=seconds)
        (tmp_path / clip.name).write_bytes(clip.read_bytes())
        names.append(clip.name)
    labels = tmp_path / "labels.csv"
    labels.write_text("path,mos\n" + "".join(f"{n},{1 + i * 0.7}\n" for i, n in enumerate(names)))
    scores = {}
    for processes in ("0", "2"):
        out = tmp_path / f"scores-{processes}.csv"
        sent = _count_requests(monkeypatch)
        args = ["eval", str(labels), "-m", str(tiny_model_dir), "--scores-csv", str(out), "--format", "json"]
        code, stdout, err = run([*args, "--decode-processes", processes], capsys)
        assert code == 0, err
        assert len(sent) == (0 if processes == "0" else 5)
        rows = [line.split(",")[:3] for line in out.read_text().splitlines()]
        scores[processes] = (rows, {k: v for k, v in json.loads(stdout).items() if k != "timing"})
    assert scores["0"] == scores["2"]


def test_batch_refuses_decode_processes_with_a_server(make_clip, tmp_path, capsys):
    from cli_run import run

    clip = str(make_clip("pool-cli-a.mp4", seconds=2.0))
    args = ["batch", clip, "--jsonl", str(tmp_path / "r.jsonl"), "--server", "http://127.0.0.1:9"]
    code, _, err = run([*args, "--decode-processes", "2"], capsys)
    assert code == 2 and "--decode-processes" in err, err


def _record_json(line: str) -> dict:
    data = json.loads(line)
    data.pop("timing", None)
    return data


def test_score_files_through_the_api_decode_in_processes_with_the_same_records(
    tiny_model_dir, tiny_scorer, make_clip, monkeypatch
):
    import vqa2cli

    files = [str(make_clip("pool-api-a.mp4", seconds=2.0)), str(make_clip("pool-api-b.mp4", seconds=3.0))]
    files.append(str(Path(files[0]).with_name("missing.mp4")))
    expected = [_record(r) for r in tiny_scorer.score_files(files)]
    scorer = vqa2cli.load_scorer(str(tiny_model_dir), workers=1, decode_processes=1)
    try:
        sent = _count_requests(monkeypatch)
        got = [_record(r) for r in scorer.score_files(files)]
    finally:
        scorer.decoder.close()
    assert sent == files[:2] and got == expected and got[2]["status"] == "error"


def test_the_server_decodes_in_processes_with_the_same_records(
    tiny_model_dir, tiny_scorer, make_clip, monkeypatch
):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from vqa2cli.serve.app import ServeConfig, ServerState, create_app

    clip = make_clip("pool-serve.mp4", seconds=2.0)
    expected = _record(tiny_scorer.score(str(clip)))
    state = ServerState(
        ServeConfig(model=str(tiny_model_dir), workers=1, decode_processes=1, roots=[clip.parent.resolve()])
    )
    state.load()
    try:
        sent = _count_requests(monkeypatch)
        client = TestClient(create_app(state))
        body = client.post("/v1/score", json={"path": str(clip)}).json()  # pinned: its descriptor travels
        upload = client.post("/v1/score", files={"file": ("up.mp4", clip.read_bytes())}).json()
    finally:
        state.queue.close(timeout=30)
        state.decode_pool.close()
    assert len(sent) == 2
    body.pop("timing", None)
    assert body["score"] == expected["score"] and body["probs"] == expected["probs"]
    assert (
        body["sampling"] == expected["sampling"]
        and body["input"]["n_frames"] == expected["input"]["n_frames"]
    )
    assert upload["score"] == expected["score"]
