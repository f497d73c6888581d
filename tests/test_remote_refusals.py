"""The ``--server`` client over every documented refusal of ``vqa2 serve`` (issue 24, fault 5).

A stub server on loopback (http.server in a thread, no model) answers each file with one refusal, as
serve/app.py documents them: ``{"error": {"code", "message", "exit_code"}}`` with 400, 403, 404, 413, 415,
422, plus an answer that is not vqa2's (a proxy's HTML 404), and a connection reset on the first try.
`score`, `ask` and `batch` must give each refused file the in-process error record/row, exit 3, and go on
with the next file; a reset is sent again and scored. 401 and a server that stays busy stop the run
(exit 4). Every request is bounded (timeouts of a few seconds)."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

pytest.importorskip("httpx")

from vqa2cli.cli.app import main
from vqa2cli.config import Settings
from vqa2cli.records.results import AnswerRecord, ScoreRecord

REFUSALS = {  # file stem → (status, vqa2 error code, server exit_code), as serve/app.py documents them
    "r400": (400, "bad_request", 2),
    "r403": (403, "forbidden", 3),
    "r404": (404, "not_found", 4),
    "r413": (413, "too_large", 2),
    "r415": (415, "unsupported_media_type", 2),
    "r422": (422, "usage", 2),
}


class Stub(BaseHTTPRequestHandler):
    resets: ClassVar[dict[str, int]] = {}
    lock = threading.Lock()

    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/v1/settings":
            return self._send(200, {"task": "score", "config": Settings().to_dict()})
        if self.headers.get("authorization") != "Bearer good":
            return self._send(
                401, {"error": {"code": "unauthorized", "message": "wrong bearer token", "exit_code": 4}}
            )
        path = json.loads(body)["path"]
        stem = Path(path).stem
        if stem in REFUSALS:
            status, code, exit_code = REFUSALS[stem]
            return self._send(
                status,
                {"error": {"code": code, "message": f"{path}: refused ({code})", "exit_code": exit_code}},
            )
        if stem == "html404":
            return self._send(404, None, b"<html>Not Found</html>")
        if stem == "busy":
            return self._send(503, {"error": {"code": "queue_full", "message": "busy", "exit_code": 4}})
        if stem == "reset":
            with self.lock:
                first = self.resets.get(path, 0) == 0
                self.resets[path] = self.resets.get(path, 0) + 1
            if first:  # RST: the connection reset mid-request
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                return None
        if self.path == "/v1/ask":
            questions = json.loads(body)["questions"]
            return self._send(
                200, [AnswerRecord(path=path, question=q, answer="fine").to_dict() for q in questions]
            )
        stat = os.stat(path)
        probs = {"high": 0.2, "good": 0.6, "fair": 0.2, "poor": 0.0, "low": 0.0}
        return self._send(
            200,
            ScoreRecord(
                path=path,
                score=0.7,
                probs=probs,
                level="good",
                input={"size_bytes": stat.st_size, "mtime": stat.st_mtime},
                config=Settings().to_dict(),
            ).to_dict(),
        )

    def _send(self, status: int, body, raw: bytes | None = None):
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "text/html" if raw is not None else "application/json")
        self.send_header("content-length", str(len(data)))
        if status == 503:
            self.send_header("retry-after", "0")
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def stub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("VQA2_TOKEN", "good")
    monkeypatch.setenv("VQA2_SERVER_WAIT", "0")
    monkeypatch.setenv("VQA2_SERVER_TIMEOUT", "20")
    monkeypatch.delenv("VQA2_SERVER", raising=False)
    Stub.resets.clear()
    names = ["ok", *REFUSALS, "html404", "reset", "ok2"]
    files = []
    for name in names:
        f = tmp_path / f"{name}.mp4"
        f.write_bytes(b"\0\0\0\x18ftypmp42" + b"\0" * 64)
        files.append(str(f))
    return files


def run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def _expect_rows(records, files):
    by_stem = {Path(r["path"]).stem: r for r in records}
    assert [Path(r["path"]).stem for r in records] == [Path(f).stem for f in files]
    for stem, (status, code, _) in REFUSALS.items():
        row = by_stem[stem]
        assert row["status"] == "error", row
        error = (
            row["error"]
            if isinstance(row["error"], dict)
            else {"code": row["error_code"], "message": row["error"]}
        )
        assert error["code"] == code and f"HTTP {status}" in error["message"]
    assert by_stem["html404"]["status"] == "error"
    for stem in ("ok", "reset", "ok2"):  # the files after the refusals are scored: the run went on
        assert by_stem[stem]["status"] == "ok"


def test_score_gives_every_refusal_an_error_record_and_goes_on(stub, env, capsys):
    code, out, err = run(["score", *env, "--server", stub, "--server-paths", "-f", "json"], capsys)
    assert code == 3, err
    _expect_rows(json.loads(out), env)
    assert "Traceback" not in err and "AttributeError" not in err
    assert (
        len([line for line in err.splitlines() if "refused by the vqa2 server" in line]) == len(REFUSALS) + 1
    )


def test_batch_gives_every_refusal_an_error_row_and_goes_on(stub, env, tmp_path, capsys):
    out_csv = tmp_path / "rows.csv"
    code, _, err = run(
        ["batch", *env, "--csv", str(out_csv), "--server", stub, "--server-paths", "-q"], capsys
    )
    assert code == 3, err
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text(encoding="utf-8"))))
    by_stem = {Path(r["path"]).stem: r for r in rows}
    assert set(by_stem) == {Path(f).stem for f in env}
    for stem, (_, error_code, _) in REFUSALS.items():
        assert by_stem[stem]["status"] == "error" and by_stem[stem]["error_code"] == error_code
    assert all(by_stem[s]["status"] == "ok" for s in ("ok", "reset", "ok2"))


@pytest.mark.parametrize("stem", [*REFUSALS, "html404"])
def test_ask_refused_file_is_error_records_exit_3(stub, env, stem, capsys):
    path = next(f for f in env if Path(f).stem == stem)
    code, out, err = run(
        [
            "ask",
            path,
            "--question",
            "Is it sharp?",
            "--question",
            "Any stutter?",
            "--server",
            stub,
            "--server-paths",
            "-f",
            "jsonl",
        ],
        capsys,
    )
    assert code == 3, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["status"] for r in rows] == ["error", "error"]
    assert len(err.strip().splitlines()) == 1 and path in err


def test_ask_after_a_reset_is_answered(stub, env, capsys):
    path = next(f for f in env if Path(f).stem == "reset")
    code, out, err = run(["ask", path, "Is it sharp?", "--server", stub, "--server-paths"], capsys)
    assert code == 0, err
    assert out == "Q: Is it sharp?\nA: fine\n"


def test_token_refused_or_busy_server_stops_with_exit_4(stub, env, monkeypatch, capsys):
    monkeypatch.setenv("VQA2_TOKEN", "wrong")
    code, _, err = run(["score", *env[:2], "--server", stub, "--server-paths", "-f", "json"], capsys)
    assert code == 4 and "HTTP 401" in err and "VQA2_TOKEN" in err
    monkeypatch.setenv("VQA2_TOKEN", "good")
    busy = env[0].replace("ok.mp4", "busy.mp4")
    Path(busy).write_bytes(b"x" * 16)
    code, _, err = run(["score", busy, "--server", stub, "--server-paths"], capsys)
    assert code == 4 and "HTTP 503" in err
