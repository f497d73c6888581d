"""The serve work queue and the app's failure handling, in-process and without a model (fast).

A stub session stands in for ``Scorer`` so that a model failure (the ``ModelRuntimeError`` that
``Scorer.level_logits`` raises for CUDA out-of-memory) can be provoked on demand: that request gets a
500 with a ``runtime_error`` record and the next request is answered normally.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from vqa2cli.errors import ModelRuntimeError
from vqa2cli.serve.queue import Job, QueueClosed, QueueFull, WorkQueue


def _job(run, gate=None, prepare=lambda: "clip"):
    def slow_run(prepared):
        if gate is not None:
            assert gate.wait(30)
        return run(prepared)

    return Job(prepare=prepare, run=slow_run, fail=lambda exc: f"failed: {exc}")


def test_queue_bounds_and_recovers_after_failures():
    depths = []
    queue = WorkQueue(max_queue=2, workers=1, on_depth=depths.append)
    gate = threading.Event()
    first = queue.submit(_job(lambda p: 1 / 0, gate))  # the model fails on this one
    second = queue.submit(_job(lambda p: f"ok {p}", gate))
    with pytest.raises(QueueFull):
        queue.submit(_job(lambda p: "never"))
    gate.set()
    assert first.result(30).startswith("failed: division by zero")
    assert second.result(30) == "ok clip"
    bad_input = queue.submit(_job(lambda p: "unused", prepare=lambda: [][0]))  # prepare (decode) fails
    assert bad_input.result(30).startswith("failed:")
    assert queue.submit(_job(lambda p: "after")).result(30) == "after"
    assert max(depths) == 2 and depths[-1] == 0
    assert queue.close(timeout=30)
    with pytest.raises(QueueClosed):
        queue.submit(_job(lambda p: "late"))


def test_cancelled_job_is_skipped_and_the_model_thread_lives():
    queue = WorkQueue(max_queue=4, workers=1)
    gate, ran = threading.Event(), []
    blocker = queue.submit(_job(lambda p: "first", gate))
    cancelled = queue.submit(_job(lambda p: ran.append("cancelled job ran")))
    assert cancelled.cancel()  # what asyncio.wrap_future does when the awaiting request is cancelled
    gate.set()
    assert blocker.result(30) == "first"
    assert queue.submit(_job(lambda p: "next")).result(30) == "next" and ran == []
    assert queue.close(timeout=30)


def test_close_waits_for_accepted_jobs():
    queue = WorkQueue(max_queue=4, workers=2)
    gate = threading.Event()
    futures = [queue.submit(_job(lambda p: "done", gate)) for _ in range(3)]
    threading.Timer(0.2, gate.set).start()
    assert queue.close(timeout=30)
    assert gate.is_set() and all(f.result(0) == "done" for f in futures)  # close returned after the jobs ran


class _StubScorer:
    """SegmentingScorer's interface (configure/prepare/run); the model fails while ``failures`` > 0."""

    failures = 0

    def __init__(self, settings, loaded):
        self.settings, self.loaded = settings, loaded

    def configure(self, *, window_s=None, on_window=None, keep_thumbnails=False):
        return self

    def prepare(self, path, *, stalling=None):
        return path

    def run(self, prepared):
        from vqa2cli.records.results import ScoreRecord

        if _StubScorer.failures > 0:
            _StubScorer.failures -= 1
            raise ModelRuntimeError("out of GPU memory while scoring", "try --quant 8bit/4bit")
        return ScoreRecord(
            path=prepared, score=0.5, probs={"high": 1.0}, level="high", config=self.settings.to_dict()
        )


def test_model_failure_is_one_500_then_the_server_answers(tiny_model_dir, tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from vqa2cli.serve.app import ServeConfig, ServerState, create_app

    state = ServerState(ServeConfig(model=str(tiny_model_dir), max_queue=2))
    settings, _ = state.resolvers["score"].base()
    state.sessions["score"] = _StubScorer(settings, SimpleNamespace())
    state.queue = WorkQueue(max_queue=2, workers=1)
    state.ready = True
    clip = tmp_path / "x.mp4"
    clip.write_bytes(b"not decoded by the stub")
    client = TestClient(create_app(state))
    _StubScorer.failures = 1
    failed = client.post("/v1/score", files={"file": ("x.mp4", clip.read_bytes())})
    assert failed.status_code == 500
    record = failed.json()
    assert record["status"] == "error" and record["error"]["code"] == "runtime_error"
    assert "out of GPU memory" in record["error"]["message"] and record["path"] == "x.mp4"
    answered = client.post("/v1/score", files={"file": ("x.mp4", clip.read_bytes())})
    assert answered.status_code == 200 and answered.json()["score"] == 0.5
    assert 'vqa2_requests_total{endpoint="score",status="500"} 1.0' in client.get("/metrics").text
    state.draining = True
    refused = client.post("/v1/score", files={"file": ("x.mp4", clip.read_bytes())})
    assert refused.status_code == 503 and "retry-after" in refused.headers
    assert client.get("/readyz").status_code == 503
    state.queue.close(timeout=10)


def test_client_exits_with_the_servers_usage_code_whatever_the_http_status():
    """A server without --assistant answers /v1/settings for ``ask`` with HTTP 404, exit_code 2
    (no_assistant): the client raises a usage error (exit 2) with the server's one line, not exit 4."""
    import httpx

    from vqa2cli.errors import UsageError
    from vqa2cli.remote.client import ServerClient, ServerError

    def handler(request):
        if request.url.path == "/v1/settings":
            return httpx.Response(
                404,
                json={
                    "error": {
                        "code": "no_assistant",
                        "exit_code": 2,
                        "message": "this server has no assistant (start it with --assistant MODEL)",
                    }
                },
            )
        return httpx.Response(404, json={"error": {"code": "http", "exit_code": 4, "message": "Not Found"}})

    client = ServerClient("http://127.0.0.1:9")
    client.http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(handler))
    with pytest.raises(UsageError) as err:
        client.settings("ask", {})
    assert err.value.exit_code == 2 and "--assistant" in err.value.one_line()
    assert "http://127.0.0.1:9" in err.value.one_line()
    with pytest.raises(ServerError) as err:  # a route the server does not know stays a server error (exit 4)
        client._json(client.http.get("/nowhere"))
    assert err.value.exit_code == 4
