"""Network inputs (issue 26): a file over HTTP, an HLS ladder and a DASH manifest score exactly as the same
renditions read locally; bad network inputs fail in one line naming the input (without credentials) with
exit 3 and the run goes on; credentials never appear in stdout, stderr or written files. Loopback only."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile

import pytest
from cli_run import run
from loopback_http import SECRET, Loopback, make_ladder

from vqa2cli.inputs.given import shown
from vqa2cli.inputs.http import MAX_GB_ENV


@pytest.fixture(scope="session")
def served(tmp_path_factory, make_clip):
    """A loopback server over a folder holding clip.mkv (and the ladder when ffmpeg is present)."""
    import shutil

    folder = tmp_path_factory.mktemp("served")
    shutil.copy(make_clip("net.mkv", container="mkv"), folder / "clip.mkv")
    try:
        ladder = make_ladder(folder)
    except (OSError, subprocess.CalledProcessError):  # no ffmpeg CLI, or one without libx264
        ladder = {}
    with Loopback(folder) as server:
        server.folder, server.ladder = folder, ladder
        yield server


@pytest.fixture
def ladder(served):
    if not served.ladder:
        pytest.skip("the ffmpeg CLI is needed to package the HLS/DASH ladder")
    return served.ladder


ARGS = ["-f", "json", "-q"]


def _same_numbers(a: dict, b: dict) -> None:
    assert a["status"] == b["status"] == "ok", (a.get("error"), b.get("error"))
    assert a["score"] == b["score"] and a["probs"] == b["probs"]
    assert a["sampling"]["keyframe_indices"] == b["sampling"]["keyframe_indices"]


def _score(args, capsys, model):
    code, out, err = run(["score", *args, "-m", str(model), *ARGS], capsys)
    return code, (json.loads(out) if out.strip() else []), err


def _copies() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("vqa2-")}


def test_file_over_http_scores_as_the_local_file(served, tiny_model_dir, reuse_tiny_scorer, capsys):
    before = _copies()
    code, recs, err = _score(
        [str(served.folder / "clip.mkv"), served.url("/clip.mkv")], capsys, tiny_model_dir
    )
    assert code == 0, err
    local, remote = recs
    _same_numbers(local, remote)
    assert remote["path"] == served.url("/clip.mkv") and "mtime" not in remote["input"]
    origin = remote["origin"]
    assert origin["kind"] == "url" and origin["given"] == remote["path"]
    size = (served.folder / "clip.mkv").stat().st_size
    assert origin["identity"]["etag"] == '"v1"' and origin["identity"]["content_length"] == size
    assert local["origin"] is None and _copies() == before


def test_hls_ladder_default_variant_and_all(ladder, served, tiny_model_dir, reuse_tiny_scorer, capsys):
    url = served.url("/master.m3u8")
    locals_ = [str(ladder[f"r{h}"]) for h in (64, 96, 128)]
    code, recs, err = _score([*locals_, url, "--variant", "all"], capsys, tiny_model_dir)
    assert code == 0, err
    assert [r["origin"]["variant"] for r in recs[3:]] == [0, 1, 2]
    for rec, loc in zip(recs[3:], recs[:3]):
        _same_numbers(rec, loc)  # each rendition read through the manifest equals its file read locally
        assert rec["path"] == url and rec["origin"]["bandwidth"] > 0 and rec["origin"]["kind"] == "hls"
    code, (best,), err = _score([url], capsys, tiny_model_dir)
    assert code == 0 and best["origin"]["height"] == 128, err  # the highest bandwidth by default
    _same_numbers(best, recs[2])


def test_variant_choice(served):
    from vqa2cli.errors import ManifestError
    from vqa2cli.inputs.manifest import Variant, choose

    ladder = [Variant(0, 900, 160, 90), Variant(1, 3000, 640, 360), Variant(2, 1500, 426, 240)]
    pick = {sel: [v.index for v in choose(ladder, sel, "m")] for sel in ("highest", "lowest", "240p", "0")}
    assert pick == {"highest": [1], "lowest": [0], "240p": [2], "0": [0]}
    with pytest.raises(ManifestError, match="no variant 1080p"):
        choose(ladder, "1080p", "m")
    with pytest.raises(ManifestError, match="no video variant"):
        choose([], "highest", "m")


def test_dash_manifest_local_and_remote(ladder, served, tiny_model_dir, reuse_tiny_scorer, capsys):
    code, recs, err = _score(
        [str(ladder["r64"]), str(ladder["dash"]), served.url("/dash/manifest.mpd"), "--variant", "lowest"],
        capsys,
        tiny_model_dir,
    )
    assert code == 0, err
    local, from_file, from_url = recs
    _same_numbers(from_file, local)
    _same_numbers(from_url, local)
    assert from_url["origin"] == {**from_url["origin"], "kind": "dash", "bandwidth": 64000, "variant": 0}
    assert from_file["path"] == str(ladder["dash"]) and "identity" not in from_file["origin"]


BAD = {
    "/missing.mp4": "HTTP 404",
    "/broken.mp4": "HTTP 500",
    "/loop": "redirect loop",
    "/short.mkv": "closed after",
    "/long.mkv": "more bytes than",
}


@pytest.mark.parametrize("route", sorted(BAD))
def test_bad_http_inputs_fail_in_one_line(route, served, tiny_model_dir, reuse_tiny_scorer, capsys):
    good = served.url("/clip.mkv")
    code, recs, err = _score([served.url(route), good], capsys, tiny_model_dir)
    assert code == 3
    bad, ok = recs
    assert ok["status"] == "ok" and bad["status"] == "error" and bad["path"] == served.url(route)
    assert BAD[route] in bad["error"]["message"] and bad["error"]["code"] == "network_error"
    lines = [line for line in err.splitlines() if served.url(route) in line]
    assert len(lines) == 1 and BAD[route] in lines[0]


def test_unreachable_tls_and_manifest_failures(ladder, served, tiny_model_dir, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    cases = {
        f"http://127.0.0.1:{closed}/a.mp4": "connection refused",
        f"https://127.0.0.1:{served.port}/clip.mkv": "TLS failure",  # https to a plain-HTTP port
        served.url("/audio.m3u8"): "no video variant",
        served.url("/missing.mpd"): "HTTP 404",
    }
    for given, cause in cases.items():
        code, recs, err = _score([given], capsys, tiny_model_dir)
        assert code == 3 and recs[0]["path"] == given and cause in recs[0]["error"]["message"], err
        assert len(err.strip().splitlines()) == 1 and given in err


def test_read_time_out_and_a_missing_segment(ladder, served, tmp_path, monkeypatch):
    from vqa2cli.inputs.http import TIMEOUT_ENV
    from vqa2cli.inputs.materialize import materialized

    monkeypatch.setenv(TIMEOUT_ENV, "0.5")
    broken = served.folder / "broken.m3u8"  # a media playlist whose second segment is missing
    broken.write_text("#EXTM3U\n#EXTINF:0.5,\nv0_000.ts\n#EXTINF:0.5,\nv0_404.ts\n#EXT-X-ENDLIST\n")
    with materialized([served.url("/slow.mkv"), served.url("/broken.m3u8")]) as inputs:
        slow, seg = (i.error for i in inputs.items)
    assert slow.one_line().startswith(served.url("/slow.mkv") + ": no answer within 0.5 s")
    assert seg.path == served.url("/broken.m3u8") and seg.code == "network_error"
    assert served.url("/v0_404.ts") + ": HTTP 404" in seg.one_line()


def test_size_cap(served, tiny_model_dir, capsys, monkeypatch):
    monkeypatch.setenv(MAX_GB_ENV, "0.000001")
    code, recs, err = _score([served.url("/clip.mkv")], capsys, tiny_model_dir)
    assert code == 3 and MAX_GB_ENV in recs[0]["error"]["message"]


def test_credentials_never_shown(served, tiny_model_dir, reuse_tiny_scorer, capsys, tmp_path):
    given = served.url(f"/private/clip.mkv?token={SECRET}", auth=f"user:{SECRET}@")
    jsonl = tmp_path / "rows.jsonl"
    code, out, err = run(
        ["batch", given, served.url(f"/missing.mp4?token={SECRET}", auth=f"user:{SECRET}@"),
         "-m", str(tiny_model_dir), "--jsonl", str(jsonl), "-v"],
        capsys,
    )  # fmt: skip
    assert code == 3, err
    rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    rows.sort(key=lambda r: r["status"], reverse=True)  # batch sorts by path: /missing first
    assert [r["status"] for r in rows] == ["ok", "error"] and rows[0]["path"] == shown(given)
    code2, out2, err2 = run(["report", str(jsonl), "--html", str(tmp_path / "r.html")], capsys)
    written = "".join(p.read_text(errors="replace") for p in tmp_path.iterdir() if p.is_file())
    assert SECRET not in out + err + out2 + err2 + written
    assert "REDACTED" in rows[0]["path"]


def test_variant_spellings_and_one_variant_commands(served, tiny_model_dir, capsys):
    from vqa2cli.errors import UsageError
    from vqa2cli.inputs.manifest import check_variant, single_variant

    assert [check_variant(v) for v in (None, "ALL", "2", "720p")] == ["highest", "all", "2", "720p"]
    with pytest.raises(UsageError):
        check_variant("best")
    with pytest.raises(UsageError, match="batch reads one variant"):
        single_variant("all", "batch")
    code, out, err = run(["score", served.url("/clip.mkv"), "--variant", "tallest"], capsys)
    assert code == 2 and "--variant 'tallest'" in err


def test_credentials_go_to_that_host_only():
    from vqa2cli.inputs.http import _request

    req = _request(f"https://user:{SECRET}@cdn.example.com/a.mp4?token={SECRET}")
    assert "Authorization" in req.unredirected_hdrs and "Authorization" not in req.headers
    assert "user" not in req.full_url and req.host == "cdn.example.com"


def test_a_redirect_is_followed(served):
    from vqa2cli.inputs.materialize import materialized

    with materialized([served.url("/hop")]) as inputs:
        (item,) = inputs.items
        assert item.error is None and item.origin.given == served.url("/hop")
        assert open(item.path, "rb").read() == (served.folder / "clip.mkv").read_bytes()


def test_batch_manifest_row_resumes(ladder, served, tiny_model_dir, reuse_tiny_scorer, capsys, tmp_path):
    args = ["batch", served.url("/master.m3u8"), "--variant", "lowest", "-m", str(tiny_model_dir), "-q"]
    args += ["--jsonl", str(tmp_path / "rows.jsonl")]
    code, _, err = run(args, capsys)
    assert code == 0, err
    (row,) = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert row["origin"]["variant"] == 0 and row["origin"]["kind"] == "hls"
    segments = served.hits["/v0_000.ts"]
    code, _, err = run([*args, "--resume"], capsys)
    assert code == 0 and served.hits["/v0_000.ts"] == segments, err  # the manifest unchanged: not read again


def test_compare_a_manifest_as_a_ladder(ladder, served, tiny_model_dir, capsys):
    url = served.url("/master.m3u8")
    code, out, err = run(["compare", "--ladder", url, "-m", str(tiny_model_dir), "-f", "json", "-q"], capsys)
    assert code in (0, 1), err  # 1: the order check may flag the tiny random model's scores
    report = json.loads(out)
    assert [f["path"] for f in report["files"]] == [
        f"{url} [variant {i}: {h}p]" for i, h in enumerate((64, 96, 128))
    ]
    assert "vqa2-" not in out + err


def test_table_names_the_variant_read():
    from vqa2cli.output.tables import score_line
    from vqa2cli.records.results import ScoreRecord

    origin = {"given": "https://cdn/m.m3u8", "kind": "hls", "variant": 2, "bandwidth": 117299}
    line = score_line(ScoreRecord(path="https://cdn/m.m3u8", score=0.5, origin=origin), False)
    assert line.rstrip().endswith("https://cdn/m.m3u8 [variant 2, 117 kb/s]")
    assert score_line(ScoreRecord(path="a.mp4", score=0.5), False).rstrip().endswith("a.mp4")
