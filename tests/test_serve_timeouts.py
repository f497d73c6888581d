"""`vqa2 serve` bounds the time a client may take (a real uvicorn server on loopback, the tiny model): a
client that opens a connection and sends its headers slowly is cut at --header-timeout (the server closes
the connection, while a complete request on another connection is answered); a client that starts an
upload and stops sending no longer holds SIGTERM up: the stalled request is answered 503 ``shutting_down``,
the server says it is shutting down, then stopped, and exits 0. No time figure is asserted: the waits
below only keep a hung server from hanging the test run (HANG_GUARD_S), far above what any step takes."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from test_serve import Server  # noqa: E402

pytestmark = pytest.mark.e2e  # a real uvicorn server in another process

GRACE_S = 3
HANG_GUARD_S = 120  # a step not done by then is a hang, whatever the machine's load (not a speed bound)


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    srv = Server(
        [
            "--model",
            str(tiny_model_dir),
            "--header-timeout",
            "1",
            "--body-timeout",
            "60",
            "--shutdown-grace",
            str(GRACE_S),
            "--max-upload-mb",
            "5",
        ],
        tmp_path_factory.mktemp("slow"),
        "t",
    )
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def _connect(url: str) -> socket.socket:
    port = int(url.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD_S)


def test_slow_headers_are_cut_at_the_header_timeout(server):
    for partial in (b"", b"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "):
        sock = _connect(server.url)
        try:
            sock.sendall(partial)
            # closed by the server (b""), with no response: our own socket timeout would raise instead
            assert sock.recv(100) == b""
        finally:
            sock.close()
    sock = _connect(server.url)  # the same server answers a request whose headers come complete
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
    finally:
        sock.close()


def test_a_stalled_upload_does_not_hold_sigterm(server):
    sock = _connect(server.url)
    try:
        sock.sendall(
            b"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
            b"boundary=B\r\nContent-Length: 4000000\r\n\r\n--B\r\nContent-Disposition: form-data; "
            b'name="file"; filename="a.mp4"\r\n\r\n' + b"\0" * 1000
        )
        time.sleep(1.0)  # the server is now waiting for the rest of the body
        server.proc.send_signal(15)
        try:
            code = server.proc.wait(timeout=HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"hung after SIGTERM (the stalled upload held it): {server.err_path.read_text()[-2000:]}"
            )
        err = server.err_path.read_text()
        assert code == 0, err[-2000:]
        assert "Traceback" not in err, err[-2000:]  # the cut request is one line, not a stack
        lines = err.splitlines()
        said = [
            i for i, line in enumerate(lines) if "shutting down: finishing the requests in flight" in line
        ]
        stopped = [i for i, line in enumerate(lines) if line.rstrip().endswith("stopped")]
        assert said and stopped and said[0] < stopped[-1], err[-2000:]  # drain announced, then the end
        answer = sock.recv(4096)  # the cut request was answered before its connection closed
        assert answer.startswith(b"HTTP/1.1 503") and b"shutting_down" in answer, answer
    finally:
        sock.close()
