"""Issue 26 through every front-end: a pipe (`ffmpeg ... -f matroska - | vqa2 <cmd> -`) and a URL give the
local file's numbers in `ask`, `batch` and `compare`; the Python API takes URLs and manifests; the `--server`
client materializes `-` and URLs itself and uploads them, while a path request naming a URL is refused
by the server and no connection reaches that URL; `batch --resume` keys a URL by URL + ETag."""

from __future__ import annotations

import io
import json
import sys
import threading
import time

import pytest
from cli_run import run
from loopback_http import Loopback


@pytest.fixture(scope="module")
def site(tmp_path_factory, make_clip):
    folder = tmp_path_factory.mktemp("site")
    clip = make_clip("cmd.mkv", container="mkv")
    (folder / "clip.mkv").write_bytes(clip.read_bytes())
    (folder / "other.mkv").write_bytes(make_clip("cmd2.mkv", container="mkv", seconds=1.0).read_bytes())
    with Loopback(folder) as server:
        server.folder = folder
        yield server


def _stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def _pipe_bytes(path) -> bytes:
    """The clip as `ffmpeg -i clip -c copy -f matroska -` writes it (the file itself without ffmpeg)."""
    import shutil
    import subprocess

    if shutil.which("ffmpeg") is None:
        return path.read_bytes()
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), "-c", "copy", "-f", "matroska", "-"]
    return subprocess.run(cmd, capture_output=True, check=True).stdout


def test_ask_stdin_and_url_equal_local(site, tiny_model_dir, capsys, monkeypatch):
    local = site.folder / "clip.mkv"
    args = ["Is it sharp?", "-m", str(tiny_model_dir), "-f", "json", "-q", "--max-new-tokens", "4"]
    code, out, err = run(["ask", str(local), *args], capsys)
    assert code == 0, err
    (want,) = json.loads(out)
    code, out, err = run(["ask", site.url("/clip.mkv"), *args], capsys)
    (got,) = json.loads(out)
    assert code == 0 and got["answer"] == want["answer"] and got["path"] == site.url("/clip.mkv"), err
    assert got["origin"]["kind"] == "url"
    _stdin(monkeypatch, _pipe_bytes(local))
    code, out, err = run(["ask", "-", *args], capsys)
    (got,) = json.loads(out)
    assert code == 0 and got["answer"] == want["answer"] and got["path"] == "-", err
    code, out, err = run(["ask", site.url("/nope.mkv"), *args], capsys)
    assert code == 3 and len(err.strip().splitlines()) == 1 and "HTTP 404" in err


def test_batch_stdin_url_list_and_resume(
    site, tiny_model_dir, reuse_tiny_scorer, capsys, monkeypatch, tmp_path
):
    local = site.folder / "clip.mkv"
    listing = tmp_path / "list.txt"
    listing.write_text(f"{site.url('/clip.mkv')}\n{site.url('/gone.mkv')}\n")
    jsonl = tmp_path / "rows.jsonl"
    _stdin(monkeypatch, _pipe_bytes(local))
    args = ["-m", str(tiny_model_dir), "--jsonl", str(jsonl), "-q"]
    code, out, err = run(["batch", str(local), "-", f"@{listing}", *args], capsys)
    assert code == 3, err
    rows = {r["path"]: r for r in map(json.loads, jsonl.read_text().splitlines())}
    assert set(rows) == {str(local), "-", site.url("/clip.mkv"), site.url("/gone.mkv")}
    assert rows["-"]["score"] == rows[str(local)]["score"] == rows[site.url("/clip.mkv")]["score"]
    assert rows[site.url("/gone.mkv")]["error"]["code"] == "network_error"
    gets = site.hits["/clip.mkv"]
    code, out, err = run(["batch", f"@{listing}", *args, "--resume"], capsys)
    assert code == 3 and site.hits["/clip.mkv"] == gets, err  # same URL and ETag: not fetched again
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["path"] for r in rows[4:]] == [site.url("/gone.mkv")]  # unreachable as a missing file: again


def test_compare_url_and_pipe(site, tiny_model_dir, capsys, monkeypatch):
    a, b = site.folder / "clip.mkv", site.folder / "other.mkv"
    args = ["-m", str(tiny_model_dir), "-f", "json", "-q", "--duration-tolerance", "5"]
    code, out, err = run(["compare", str(a), str(b), *args], capsys)
    assert code == 0, err
    want = json.loads(out)
    _stdin(monkeypatch, _pipe_bytes(a))
    code, out, err = run(["compare", "-", site.url("/other.mkv"), *args], capsys)
    assert code == 0, err
    got = json.loads(out)
    assert [f["path"] for f in got["files"]] == ["-", site.url("/other.mkv")]
    assert [f["score"] for f in got["files"]] == [f["score"] for f in want["files"]]
    assert "vqa2-" not in out + err
    _stdin(monkeypatch, _pipe_bytes(a))  # not quiet: every warning names the inputs as given, never a copy
    code, out, err = run(["compare", "-", site.url("/other.mkv"), *[x for x in args if x != "-q"]], capsys)
    assert code == 0 and "aligned windows" in err and site.url("/other.mkv") in err, err
    assert "vqa2-" not in err


def test_api_scorer_and_assistant_take_urls(site, tiny_scorer):
    url = site.url("/clip.mkv")
    local = tiny_scorer.score(str(site.folder / "clip.mkv"))
    remote = tiny_scorer.score(url)
    assert remote.score == local.score and remote.path == url and remote.origin["kind"] == "url"
    records = list(tiny_scorer.score_files([url, site.url("/gone.mkv")]))
    assert [r.status for r in records] == ["ok", "error"] and "HTTP 404" in records[1].error


# --- the server never fetches ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def live(tiny_model_dir, site):
    pytest.importorskip("fastapi")
    uvicorn = pytest.importorskip("uvicorn")
    from vqa2cli.serve.app import ServeConfig, ServerState, create_app

    model = str(tiny_model_dir)
    config = ServeConfig(model=model, assistant=model, roots=[site.folder], max_queue=4, workers=1)
    state = ServerState(config)
    state.load()
    server = uvicorn.Server(uvicorn.Config(create_app(state), host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", state
    server.should_exit = True
    thread.join(timeout=30)
    state.queue.close(timeout=30)


def test_server_refuses_url_paths_and_never_connects(live, site):
    import httpx

    url, _ = live
    before = sum(site.hits.values())
    for given in (site.url("/clip.mkv"), site.url("/master.m3u8"), "-"):
        response = httpx.post(f"{url}/v1/score", json={"path": given}, timeout=30)
        assert response.status_code in (400, 403, 422), response.text
    head = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
    playlist = f"{head}#EXTINF:1.0,\n{site.url('/clip.mkv')}\n#EXT-X-ENDLIST\n".encode()  # a valid playlist
    response = httpx.post(
        f"{url}/v1/score",
        files={"file": ("upload.m3u8", playlist, "application/octet-stream")},
        data={"request": json.dumps({"name": "x.m3u8"})},
        timeout=60,
    )
    assert response.status_code != 200 or response.json()["status"] == "error"
    inside = site.folder / "inside.m3u8"  # a playlist file under the server's root, naming the site
    inside.write_bytes(playlist)
    response = httpx.post(f"{url}/v1/score", json={"path": str(inside)}, timeout=60)
    assert response.status_code != 200 or response.json()["status"] == "error"
    assert sum(site.hits.values()) == before  # no request reached the loopback site
    outside = site.folder.parent / "outside.mkv"  # a playlist under the root naming a file outside it
    outside.write_bytes((site.folder / "clip.mkv").read_bytes())
    cases = [
        ("escape.m3u8", f"{head}#EXTINF:1.0,\n{ref}\n#EXT-X-ENDLIST\n") for ref in (outside, "../outside.mkv")
    ]
    cases += [
        (f"list{n}.ffconcat", f"ffconcat version 1.0\nfile {ref}\n")
        for n, ref in enumerate((outside, "x.mkv"))
    ]
    for name, text in cases:  # a playlist or an ffconcat list naming a file outside the root, or any file
        escape = site.folder / name
        escape.write_text(text)
        response = httpx.post(f"{url}/v1/score", json={"path": str(escape)}, timeout=60)
        body = response.json()
        assert response.status_code == 422 and body["status"] == "error", body
        assert "never opens what a file refers to" in body["error"]["message"], body


def test_server_client_uploads_what_it_materialized(
    live, site, tiny_model_dir, reuse_tiny_scorer, capsys, monkeypatch
):
    url, _ = live
    local = site.folder / "clip.mkv"
    code, out, err = run(["score", str(local), "-m", str(tiny_model_dir), "-f", "json", "-q"], capsys)
    (want,) = json.loads(out)
    _stdin(monkeypatch, local.read_bytes())
    code, out, err = run(
        ["score", "-", site.url("/clip.mkv"), "--server", url, "--server-paths", "-f", "json", "-q"], capsys
    )
    assert code == 0, err
    piped, fetched = json.loads(out)
    assert piped["path"] == "-" and fetched["path"] == site.url("/clip.mkv")
    assert piped["score"] == fetched["score"] == want["score"]
    assert fetched["origin"]["kind"] == "url" and "vqa2-" not in out + err


def test_batch_csv_resume_keys_a_url_by_its_etag(site, tiny_model_dir, reuse_tiny_scorer, capsys, tmp_path):
    import csv

    out = tmp_path / "rows.csv"
    args = ["batch", site.url("/clip.mkv"), "-m", str(tiny_model_dir), "--csv", str(out), "-q"]
    code, _, err = run(args, capsys)
    assert code == 0, err
    (row,) = csv.DictReader(out.open())
    assert row["path"] == site.url("/clip.mkv") and row["etag"] == '"v1"' and row["variant"] == ""
    assert row["mtime"] == "" and row["size_bytes"]  # the temporary copy's mtime is not the input's
    gets = site.hits["/clip.mkv"]
    code, _, err = run([*args, "--resume"], capsys)
    assert code == 0 and site.hits["/clip.mkv"] == gets, err
    text = out.read_text().replace('"""v1"""', '"""v0"""')  # the row of an older version of the content
    out.write_text(text)
    code, _, err = run([*args, "--resume"], capsys)
    assert code == 0 and site.hits["/clip.mkv"] == gets + 1, err  # ETag changed: fetched and scored again


def test_batch_explain_refuses_inputs_it_cannot_read_again(site, tiny_model_dir, capsys, tmp_path):
    code, out, err = run(
        ["batch", site.url("/clip.mkv"), "-m", str(tiny_model_dir), "--jsonl", str(tmp_path / "r.jsonl"),
         "--explain", "--assistant", str(tiny_model_dir)],
        capsys,
    )  # fmt: skip
    assert code == 2 and "batch --explain reads each file again" in err and site.url("/clip.mkv") in err


def test_ask_server_client_uploads_a_url(live, site, tiny_model_dir, capsys):
    url, _ = live
    args = ["Is it sharp?", "-f", "json", "-q", "--max-new-tokens", "4"]
    code, out, err = run(["ask", str(site.folder / "clip.mkv"), *args, "--server", url], capsys)
    assert code == 0, err
    (want,) = json.loads(out)
    code, out, err = run(["ask", site.url("/clip.mkv"), *args, "--server", url], capsys)
    assert code == 0, err
    (got,) = json.loads(out)
    assert got["answer"] == want["answer"] and got["path"] == site.url("/clip.mkv")
    assert got["origin"]["kind"] == "url" and "vqa2-" not in out + err


def test_segments_csv_rows_of_a_url_name_it_without_the_copys_mtime(site, tiny_model_dir, capsys, tmp_path):
    import csv

    out = tmp_path / "windows.csv"
    args = ["score", site.url("/clip.mkv"), "-m", str(tiny_model_dir), "--segments", "1s", "-q"]
    code, _, err = run([*args, "--segments-csv", str(out), "-f", "json"], capsys)
    rows = list(csv.DictReader(out.open()))
    assert code == 0 and rows, err
    assert {r["path"] for r in rows} == {site.url("/clip.mkv")} and {r["mtime"] for r in rows} == {""}
