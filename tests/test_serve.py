"""`vqa2 serve` end to end: one real uvicorn server in a subprocess (ephemeral port, the tiny model).

The server binds 0.0.0.0, so it must have --token-file (the non-loopback rule); clients only ever connect
to 127.0.0.1 and send the token (VQA2_TOKEN for the CLI client). It runs a scorer and an assistant, allows
path requests under one root, queues at most 4 requests and accepts 1 MB uploads. The SIGTERM test runs
last and stops it. The in-process CLI runs once per module for the records to compare. Waits are bounded.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

from vqa2cli.cli.app import main  # noqa: E402

pytestmark = pytest.mark.e2e  # a real uvicorn server in another process

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "t0k3n-for-tests-only-0123456789"
START_TIMEOUT_S = 240


class Server:
    def __init__(self, args: list[str], tmp: Path, name: str):
        self.err_path = tmp / f"{name}.err"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "TMPDIR": str(tmp / f"{name}-tmp"),
        }
        env.pop("VQA2_SERVER", None)
        (tmp / f"{name}-tmp").mkdir()
        self.tmpdir = tmp / f"{name}-tmp"
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vqa2cli", "serve", "--port", "0", *args],
            stdout=subprocess.DEVNULL,
            stderr=self.err,
            env=env,
        )
        self.url = None

    def wait_ready(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = self.err_path.read_text()
            match = re.search(r"listening on http://[^:]+:(\d+)", text)
            if match and "ready:" in text:
                self.url = f"http://127.0.0.1:{match.group(1)}"
                return self.url
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: {text}")
            time.sleep(0.2)
        raise AssertionError(f"server not ready in {START_TIMEOUT_S} s: {self.err_path.read_text()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.err.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def clips(make_clip, tmp_path_factory):
    """Tiny clips inside the allowed root (1 keyframe, 4 motion frames each)."""
    root = tmp_path_factory.mktemp("serve-root")
    a = make_clip("serve-a.mp4", seconds=1.0, fps=4, width=48, height=32)
    b = make_clip("serve-b.mkv", seconds=1.0, fps=4, width=32, height=48, container="mkv")
    out = {"root": root}
    for name, src in (("a.mp4", a), ("b ü.mkv", b)):
        (root / name).write_bytes(src.read_bytes())
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def server(tiny_model_dir, clips, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    token_file = tmp / "token"
    token_file.write_text(TOKEN + "\n")
    srv = Server(
        [
            "--model",
            str(tiny_model_dir),
            "--assistant",
            str(tiny_model_dir),
            "--host",
            "0.0.0.0",
            "--token-file",
            str(token_file),
            "--allow-root",
            str(clips["root"]),
            "--max-queue",
            "4",
            "--workers",
            "2",
            "--max-upload-mb",
            "1",
        ],
        tmp,
        "a",
    )
    old = os.environ.get("VQA2_TOKEN")
    os.environ["VQA2_TOKEN"] = TOKEN
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()
        os.environ.pop("VQA2_TOKEN") if old is None else os.environ.__setitem__("VQA2_TOKEN", old)


@pytest.fixture(scope="module")
def url(server):
    return server.url


def post(url, route="/v1/score", **kwargs):
    headers = {"Authorization": f"Bearer {TOKEN}", **kwargs.pop("headers", {})}
    return httpx.post(f"{url}{route}", headers=headers, timeout=kwargs.pop("timeout", 120), **kwargs)


FILES = ["a.mp4", "b ü.mkv", "missing.mp4"]


@pytest.fixture(scope="module")
def local_records(tiny_model_dir, clips):
    """The in-process CLI's JSON records for FILES (relative paths, run in the root folder)."""
    import contextlib

    cwd, out = os.getcwd(), io.StringIO()
    os.chdir(clips["root"])
    try:
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exc:
            main(["score", *FILES, "--model", str(tiny_model_dir), "-f", "json", "-q"])
    finally:
        os.chdir(cwd)
    assert exc.value.code == 3  # the missing file: an error record, exit 3
    records = json.loads(out.getvalue())
    assert [r["status"] for r in records] == ["ok", "ok", "error"]
    return records


def run(args, capsys, env=None):
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        with pytest.raises(SystemExit) as exc:
            main(args)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def untimed(records):
    """Records without what belongs to the process rather than the clip: timings, and the memory estimate
    made when the weights loaded (sized for the inputs of that command; the server's for a reference clip)."""
    out = []
    for r in records:
        r = {k: v for k, v in r.items() if k != "timing"}
        if isinstance(r.get("model"), dict):
            r["model"] = {k: v for k, v in r["model"].items() if k != "estimated_memory_gb"}
        out.append(r)
    return out


def error_line(response) -> str:
    body = response.json()
    message = body["error"]["message"]
    assert "\n" not in message and message
    return message


# --- records and the client ---------------------------------------------------------------------
def test_score_records_equal_in_process(url, local_records, clips, capsys, monkeypatch):
    monkeypatch.chdir(clips["root"])
    code, remote, err = run(["score", *FILES, "-f", "json", "-q", "--server", url], capsys)
    assert code == 3, err
    code, by_path, err = run(["score", *FILES, "-f", "json", "-q", "--server", url, "--server-paths"], capsys)
    assert code == 3, err
    assert untimed(json.loads(remote)) == untimed(local_records)
    assert untimed(json.loads(by_path)) == untimed(local_records)


def test_table_csv_and_gate_through_server(url, tiny_model_dir, clips, capsys):
    clip = str(clips["a.mp4"])
    code, out, _ = run(["score", clip, "-m", str(tiny_model_dir), "-f", "csv", "--server", url], capsys)
    assert code == 0
    row = next(csv.DictReader(io.StringIO(out)))
    score = float(row["score"])
    code, table, _ = run(["score", clip, "--server", url], capsys)
    assert code == 0 and table.splitlines()[1].startswith(f"{score:.4f}")
    code, _, err = run(["score", clip, "--server", url, "--fail-under", str(min(1.0, score + 1e-3))], capsys)
    assert code == 1 and "below --fail-under" in err


def test_vmaf_json_through_server_equals_in_process(url, local_records, clips, capsys, monkeypatch):
    """--format vmaf-json from the --server client (records rebuilt client-side): libvmaf's layout, one
    document per file, the same frames and pooled numbers as the in-process records."""
    monkeypatch.chdir(clips["root"])
    code, out, err = run(["score", *FILES, "-f", "vmaf-json", "-q", "--server", url], capsys)
    assert code == 3, err
    docs = [json.loads(line) for line in out.splitlines()]
    assert len(docs) == 3 and docs[2]["frames"] == [] and docs[2]["vqa2"]["status"] == "error"
    for doc, record in zip(docs[:2], local_records[:2]):
        assert set(doc) >= {"version", "fps", "frames", "pooled_metrics", "aggregate_metrics"}
        assert [(f["frameNum"], f["metrics"]["vqa2"]) for f in doc["frames"]] == [
            (k, record["score"]) for k in record["sampling"]["keyframe_indices"]
        ]
        assert doc["pooled_metrics"]["vqa2"]["mean"] == doc["aggregate_metrics"]["vqa2"] == record["score"]
        assert doc["vqa2"]["path"] == record["path"]


def test_env_server_and_usage_errors_same_line(url, tiny_model_dir, clips, capsys):
    clip = str(clips["a.mp4"])
    for flags in (["--prompt", "qi"], ["--stalling", "01x"], ["--long-clip", "bogus"]):
        code, _, local_err = run(["score", clip, "-m", str(tiny_model_dir), *flags], capsys)
        assert code == 2
        code, _, remote_err = run(["score", clip, *flags], capsys, env={"VQA2_SERVER": url})
        assert code == 2 and remote_err == local_err, flags
        options = (
            {"prompt": "qi"}
            if flags[0] == "--prompt"
            else {"stalling": "01x"}
            if flags[0] == "--stalling"
            else {"long_clip": "bogus"}
        )
        response = post(url, json={"path": clip, "options": options})
        assert response.status_code == 422 and "Error: " + error_line(response) == local_err.strip()


def test_strict_through_server_equals_in_process(url, tiny_model_dir, make_clip, tmp_path, capsys):
    """--strict is sent to the server (not dropped): a truncated file is the same damaged_input record."""
    from clips import truncate_copy

    good = make_clip("serve-strict.mp4", seconds=3, fps=8, width=48, height=32, faststart=True, gop=8)
    cut = truncate_copy(good, tmp_path / "cut.mp4", 0.6)
    args = ["score", str(cut), "-f", "json", "-q"]
    code, lax, err = run([*args, "--server", url], capsys)
    assert code == 0 and json.loads(lax)[0]["status"] == "ok", err
    code, local, err = run([*args, "--strict", "-m", str(tiny_model_dir)], capsys)
    assert code == 3, err
    code, remote, err = run([*args, "--strict", "--server", url], capsys)
    assert code == 3, err
    assert json.loads(remote)[0]["error"]["code"] == "damaged_input"
    assert untimed(json.loads(remote)) == untimed(json.loads(local))


def test_ask_records_equal_in_process(url, tiny_model_dir, clips, capsys):
    args = [
        "ask",
        str(clips["a.mp4"]),
        "Is there stutter?",
        "--question",
        "Is it sharp?",
        "-m",
        str(tiny_model_dir),
        "--max-new-tokens",
        "3",
        "-q",
        "-f",
        "json",
    ]
    code, local, _ = run(args, capsys)
    assert code == 0
    code, remote, err = run(args + ["--server", url], capsys)
    assert code == 0, err
    assert untimed(json.loads(remote)) == untimed(json.loads(local))
    code, table, _ = run(args[:-2] + ["--server", url], capsys)
    assert code == 0 and table.startswith("Q: Is there stutter?\nA: " + json.loads(local)[0]["answer"] + "\n")


def test_server_down_is_exit_4_naming_the_url(clips, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    code, out, err = run(["score", str(clips["a.mp4"]), "--server", dead], capsys)
    assert code == 4 and out == ""
    assert len(err.strip().splitlines()) == 1 and dead in err


def test_batch_rows_resume_and_spread(url, local_records, clips, tmp_path, capsys, monkeypatch):
    from vqa2cli.remote.client import ServerClient
    from vqa2cli.remote.scorers import RemoteBatchScorer, score_record

    monkeypatch.chdir(clips["root"])
    out = tmp_path / "remote.csv"
    code, _, err = run(["batch", *FILES[:2], "--csv", str(out), "--server", url, "-q"], capsys)
    assert code == 0, err
    timing = ("decode_s", "infer_s")
    rows = [{k: v for k, v in r.items() if k not in timing} for r in csv.DictReader(out.open())]
    expected = [
        {k: ("" if v is None else str(v)) for k, v in score_record(r).to_row().items() if k not in timing}
        for r in local_records[:2]
    ]
    assert sorted(rows, key=lambda r: r["path"]) == sorted(expected, key=lambda r: r["path"])
    code, summary, err = run(
        ["batch", *FILES[:2], "--csv", str(out), "--server", url, "--resume", "--summary"], capsys
    )
    assert code == 0 and json.loads(summary)["skipped_done"] == 2, err
    # several servers: each file goes to the least busy one (two spellings of the same server here)
    clients = [ServerClient(url), ServerClient(url.replace("127.0.0.1", "localhost"))]
    scorer = RemoteBatchScorer(clients, {}, send_path=True)
    with ThreadPoolExecutor(2) as pool:
        records = list(pool.map(scorer.prepare, [str(clips["a.mp4"])] * 2))
    assert all(r.status == "ok" for r in records) and [c.sent for c in clients] == [1, 1]


def test_batch_through_server_keeps_non_utf8_names_and_resumes_them(url, clips, tmp_path, capsys):
    folder = tmp_path / "names"
    folder.mkdir()
    raw = os.path.join(os.fsencode(folder), b"bad\xff\xfe.mp4")
    with open(raw, "wb") as fh:
        fh.write(clips["a.mp4"].read_bytes())
    for fmt in ("csv", "jsonl"):
        out = tmp_path / f"names.{fmt}"
        code, _, err = run(["batch", str(folder), f"--{fmt}", str(out), "--server", url, "-q"], capsys)
        assert code == 0, err
        text = out.read_text(encoding="utf-8")  # valid UTF-8, the raw name kept as path_bytes
        assert raw.hex() in text
        code, summary, err = run(
            ["batch", str(folder), f"--{fmt}", str(out), "--server", url, "--resume", "--summary"], capsys
        )
        assert code == 0 and json.loads(summary)["skipped_done"] == 1, err
        assert out.read_text(encoding="utf-8") == text  # nothing scored or appended twice


# --- concurrency, queue ---------------------------------------------------------------------------
def test_sixteen_concurrent_clients_all_answered(url, clips):
    """16 clients at once against --max-queue 4: the client waits out 503 + Retry-After; all answered."""
    from vqa2cli.remote.client import ServerClient

    def one(i):
        client = ServerClient(url)
        try:
            return client.score(str(clips["a.mp4" if i % 2 else "b ü.mkv"]), {}, send_path=bool(i % 4 == 0))
        finally:
            client.close()

    with ThreadPoolExecutor(16) as pool:
        records = list(pool.map(one, range(16)))
    assert len(records) == 16 and all(r["status"] == "ok" for r in records)
    for name in ("a.mp4", "b ü.mkv"):
        same = untimed([r for r in records if r["path"].endswith(name)])
        assert len(same) == 8 and all(r == same[0] for r in same)


def test_uploads_deleted_after_requests(server):
    assert not list(server.tmpdir.glob("vqa2-upload-*"))


def test_full_queue_503_retry_after_then_recovers(url, clips):
    data = clips["a.mp4"].read_bytes()

    def send(_):
        return post(url, files={"file": ("a.mp4", data)})

    with ThreadPoolExecutor(12) as pool:  # more than --max-queue 4 at once, without the client's retries
        answers = list(pool.map(send, range(12)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(200) >= 4 and 503 in statuses and set(statuses) == {200, 503}, statuses
    busy = next(r for r in answers if r.status_code == 503)
    assert int(busy.headers["retry-after"]) >= 1 and "busy" in error_line(busy)
    assert send(0).status_code == 200  # recovered


# --- security and validation ------------------------------------------------------------------------
def test_token_required_on_non_loopback_bind(url, clips, capsys, monkeypatch):
    clip = clips["a.mp4"]
    for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": TOKEN}):
        response = httpx.post(
            f"{url}/v1/score", files={"file": ("a.mp4", clip.read_bytes())}, headers=headers
        )
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        error_line(response)
    monkeypatch.delenv("VQA2_TOKEN")
    code, _, err = run(["score", str(clip), "--server", url], capsys)
    assert code == 4 and url in err and "VQA2_TOKEN" in err and len(err.strip().splitlines()) == 1
    assert httpx.get(f"{url}/readyz").status_code == 200  # probes need no token
    # the rule itself: a non-loopback bind without --token-file is refused before any model loads
    result = subprocess.run(
        [sys.executable, "-m", "vqa2cli", "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2 and "--token-file" in result.stderr and len(result.stderr.splitlines()) == 1


def test_weights_that_fail_to_load_exit_4(tmp_path, capsys):
    """`vqa2 serve` (in this process: binding, uvicorn, the load in its thread, the command's exit mapping)
    with a folder that holds no checkpoint: the server stops, one ``Error:`` line naming it, exit 4."""
    empty = tmp_path / "not-a-checkpoint"
    empty.mkdir()
    code, _, err = run(["serve", "--model", str(empty), "--port", "0"], capsys)
    assert code == 4, err
    assert err.strip().splitlines()[-1].startswith("Error: ") and str(empty) in err


def test_loopback_rule():
    from vqa2cli.serve.security import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.1.2.3", "192.168.0.1", "example.com", ""))


def test_path_confinement(url, clips, tmp_path):
    root = clips["root"]
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(clips["a.mp4"].read_bytes())
    (root / "link-out.mp4").symlink_to(outside)
    (root / "link-in.mp4").symlink_to(root / "a.mp4")
    (root / "dev.mp4").symlink_to("/dev/zero")
    os.mkfifo(root / "fifo.mp4")
    (root / "sub").mkdir()
    refused = [
        f"{root}/../{outside.parent.name}/secret.mp4",
        "../secret.mp4",
        str(outside),
        str(root / "link-out.mp4"),
        "/dev/zero",
        str(root / "dev.mp4"),
        str(root / "fifo.mp4"),
        str(root / "sub"),
        "/etc/passwd",
    ]
    for path in refused:
        response = post(url, json={"path": path}, timeout=30)
        assert response.status_code == 403, (path, response.text)
        error_line(response)
    ok = post(url, json={"path": "link-in.mp4"})
    assert ok.status_code == 200 and ok.json()["path"] == str(root / "link-in.mp4")
    missing = post(url, json={"path": str(root / "nope.mp4")}, timeout=30)
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "file_missing"


def test_refused_file_is_an_error_record_and_the_rest_scored(url, clips, tmp_path, capsys):
    """Issue 24 fault 5: a 403 (outside the roots) is the file's error record, exit 3, the next file scored."""
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(clips["a.mp4"].read_bytes())
    code, out, err = run(
        ["score", str(outside), str(clips["a.mp4"]), "--server", url, "--server-paths", "-f", "json"], capsys
    )
    assert code == 3, err
    records = json.loads(out)
    assert [r["status"] for r in records] == ["error", "ok"]
    assert "HTTP 403" in err and str(outside) in err and "Traceback" not in err


def test_oversize_upload_413(url):
    big = os.urandom(1_500_000)  # the server allows 1 MB
    response = post(url, files={"file": ("big.mp4", big)}, timeout=60)
    assert response.status_code == 413 and "limit" in error_line(response)

    def chunks():  # no Content-Length: the streamed size is counted
        yield (
            b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n"
        )
        for _ in range(12):
            yield b"\1" * 250_000

    response = post(
        url, content=chunks(), timeout=60, headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert response.status_code == 413
    error_line(response)


@pytest.mark.parametrize(
    "kwargs, status, words",
    [
        ({"content": b'{"path": ', "headers": {"content-type": "application/json"}}, 400, "malformed JSON"),
        ({"content": b"[1, 2]", "headers": {"content-type": "application/json"}}, 400, "object"),
        ({"json": {"path": "a.mp4", "options": {"frobnicate": 1}}}, 422, "unknown option 'frobnicate'"),
        ({"json": {"path": "a.mp4", "speed": "fast"}}, 422, "unknown request field 'speed'"),
        ({"json": {"path": "a.mp4", "options": {"model": "ugc-scorer"}}}, 422, "cannot load other weights"),
        ({"json": {"path": "a.mp4", "options": {"max_motion_frames": "lots"}}}, 422, "max_motion_frames"),
        ({"json": {"path": "a.mp4", "options": {"stalling": "@/etc/passwd"}}}, 422, "read by the client"),
        ({"files": {"video": ("a.mp4", b"xx")}}, 422, "'file' part"),
        ({"content": b"raw", "headers": {"content-type": "text/plain"}}, 415, "multipart"),
        # a request never makes the server read a pipe or reach the network (issue 26)
        ({"json": {"path": "-"}}, 403, "never a pipe or a URL"),
        ({"json": {"path": "http://127.0.0.1:9/a.mp4"}}, 403, "never a pipe or a URL"),
        ({"json": {"path": "https://example.com/a.m3u8"}}, 403, "never a pipe or a URL"),
        ({"json": {"path": "pipe:0"}}, 403, "never a pipe or a URL"),
        ({"json": {"path": 123}}, 422, "'path' must be a string, not a number"),
        ({"json": {"path": ["a.mp4"]}}, 422, "'path' must be a string, not an array"),
        ({"json": {"options": {}}}, 422, "needs 'path'"),
    ],
)
def test_bad_requests_refused_with_one_line(url, kwargs, status, words):
    response = post(url, timeout=30, **kwargs)
    assert response.status_code == status, response.text
    assert words in error_line(response)


def test_health_ready_metrics_openapi(url):
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{url}/readyz")
    assert ready.status_code == 200 and set(ready.json()["models"]) == {"score", "ask"}
    metrics = httpx.get(f"{url}/metrics").text
    for name in (
        "vqa2_requests_total",
        "vqa2_request_seconds_bucket",
        "vqa2_queue_depth",
        "vqa2_peak_gpu_memory_bytes",
        "vqa2_ready 1.0",
    ):
        assert name in metrics
    assert '{endpoint="score",status="403"}' in metrics
    assert httpx.get(f"{url}/openapi.json").status_code == 401  # with a token, the API description needs it
    described = httpx.get(f"{url}/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert {"/v1/score", "/v1/ask", "/readyz"} <= set(described["paths"])


# --- shutdown (last: it stops server B) ----------------------------------------------------------------
def test_real_file_facts_through_server_equal_in_process(url, tiny_model_dir, tmp_path, capsys):
    """Issue 25: the display matrix applied (a mirror), the stream index and packets skipped past damage reach
    the server's records as they are in process."""
    from ffmpeg_cli import ffmpeg, require_ffmpeg

    require_ffmpeg("to make a mirrored clip")
    src = tmp_path / "src.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=48x32:rate=4:duration=2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        src,
    )
    path = tmp_path / "mirrored.mp4"
    ffmpeg("-display_rotation", "90", "-display_hflip", "-i", src, "-c", "copy", path)
    args = ["score", str(path), "-f", "json", "-q"]
    code, remote, err = run([*args, "--server", url], capsys)
    assert code == 0, err
    code, local, err = run([*args, "-m", str(tiny_model_dir)], capsys)
    assert code == 0, err
    assert json.loads(remote)[0]["input"]["transform"] == "rotate 270+hflip"
    assert json.loads(remote)[0]["input"]["stream_index"] == 0
    assert untimed(json.loads(remote)) == untimed(json.loads(local))


@pytest.mark.e2e
def test_server_client_process_imports_neither_torch_nor_transformers(url, clips):
    """Issue 27: a CI hook's `vqa2 score --server URL` process pays Python, httpx and one request, not the
    model stack (`-X importtime` lists every module the process imported)."""
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "vqa2cli",
            "score",
            str(clips["a.mp4"]),
            "--server",
            url,
            "-q",
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {
        line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    }
    assert "httpx" in imported and json.loads(done.stdout)[0]["status"] == "ok"
    assert not imported & {"torch", "transformers", "pytorchvideo", "av", "numpy"}, imported & {"torch", "av"}


# Keep this test last in the module: it stops the module's server (SIGTERM); tests after it would find none.
def test_sigterm_answers_in_flight_then_exits_0(server, clips):
    url, result = server.url, {}

    def send():
        result["r"] = post(url, files={"file": ("a.mp4", clips["a.mp4"].read_bytes())})

    thread = threading.Thread(target=send)
    thread.start()
    deadline = time.monotonic() + 60
    while "vqa2_queue_depth 1.0" not in httpx.get(f"{url}/metrics").text:  # the request is in flight
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.01)
    server.proc.send_signal(signal.SIGTERM)
    thread.join(timeout=120)
    assert result["r"].status_code == 200 and result["r"].json()["status"] == "ok"
    assert server.proc.wait(timeout=60) == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/healthz", timeout=5)
    assert "shutting down" in server.err_path.read_text()
