"""`vqa2 serve` under malformed and hostile requests, in process (httpx's ASGI transport, no model): every
malformed body is a 4xx with the documented error body (a property over generated bodies), every size limit
is enforced while the bytes arrive (a client that sends slowly is refused before it has sent the lot), a
client that stops sending gets 408, and the API description needs the token when the server has one."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from vqa2cli.serve.app import ServeConfig, ServerState, create_app  # noqa: E402
from vqa2cli.serve.queue import QueueFull  # noqa: E402

TOKEN = "limits-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class _Full:
    """A queue that is always full: a well-formed request ends in 503, never reaches a model."""

    def submit(self, job):
        raise QueueFull("test queue")

    def close(self, timeout=None):
        return True


@pytest.fixture(scope="module")
def app(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("limits-root")
    (root / "a.mp4").write_bytes(b"\0" * 64)
    state = ServerState(
        ServeConfig(
            model=str(tiny_model_dir),
            token=TOKEN,
            roots=[root],
            max_upload_bytes=64 << 10,
            body_timeout_s=0.3,
        )
    )
    state.sessions["score"] = SimpleNamespace(loaded=None, model_info=None)
    state.queue, state.ready = _Full(), True
    # the globals of the module create_app really comes from (not sys.modules' entry, which another test may
    # have replaced by a re-import)
    app_globals = create_app.__globals__
    make_job = app_globals["make_job"]
    app_globals["make_job"] = lambda *a, **k: None  # a well-formed request reaches the (full) queue, no model
    try:
        yield create_app(state)
    finally:
        app_globals["make_job"] = make_job


def call(app, method, route, **kwargs):
    async def go():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, route, **kwargs)

    return asyncio.run(go())


def assert_error_body(response, low=400, high=499):
    assert low <= response.status_code <= high, (response.status_code, response.text[:300])
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "exit_code"}, body
    assert "\n" not in body["error"]["message"] and isinstance(body["error"]["exit_code"], int)
    return body["error"]


# --- fault 4: every malformed input is a 4xx with the error body ---------------------------------------
NUMBERS = [
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    "1" + "0" * 30,
    "-" + "9" * 25,
    "1" * 5000,
    "0.5",
    "3",
    "-1",
    "true",
    "null",
    '"x"',
    "[]",
    "{}",
]
KEYS = [
    "path",
    "options",
    "questions",
    "name",
    "mtime_ns",
    "task",
    "max_motion_frames",
    "segments",
    "pool",
    "stalling",
    "temperature",
    "strict",
    "long_clip",
    "model",
    "device",
    "zzz",
]


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


json_text = st.recursive(
    st.sampled_from(NUMBERS),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=3).map(
            lambda d: "{" + ",".join(f'"{k}":{v}' for k, v in d.items()) + "}"
        ),
    ),
    max_leaves=8,
)
bodies = st.one_of(
    json_text,
    st.builds(lambda d, k: f'{{"{k}": {nested(d)}}}', st.integers(33, 100_000), st.sampled_from(KEYS)),
    st.builds(
        lambda k, v: f'{{"path": "a.mp4", "options": {{"{k}": {v}}}}}',
        st.sampled_from(KEYS),
        st.sampled_from(NUMBERS),
    ),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(body=bodies, route=st.sampled_from(["/v1/score", "/v1/settings"]))
def test_malformed_json_bodies_are_4xx_with_the_error_body(app, body, route):
    response = call(
        app,
        "POST",
        route,
        content=body.encode("utf-8", "surrogatepass"),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    if response.status_code in (200, 503):  # a well-formed request: resolved, or the full test queue
        return
    assert_error_body(response)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(part=bodies)
def test_malformed_request_parts_are_4xx_with_the_error_body(app, part):
    response = call(
        app, "POST", "/v1/score", headers=AUTH, files={"file": ("x.mp4", b"\0" * 100)}, data={"request": part}
    )
    if response.status_code == 503:
        return
    assert_error_body(response)


@pytest.mark.parametrize(
    "request_part,words",
    [
        ({"mtime_ns": 10**30}, "out of range"),
        ({"mtime_ns": -1}, "mtime_ns"),
        ({"mtime_ns": True}, "mtime_ns"),
        ({"mtime_ns": 1.5}, "mtime_ns"),
        ({"name": 3}, "name"),
    ],
)
def test_out_of_range_request_fields_are_422(app, request_part, words):
    response = call(
        app,
        "POST",
        "/v1/score",
        headers=AUTH,
        files={"file": ("x.mp4", b"\0" * 10)},
        data={"request": json.dumps(request_part)},
    )
    assert words in assert_error_body(response)["message"]


def test_deep_nesting_and_huge_numbers_are_400_not_500(app):
    for body in (nested(100_000), f'{{"options": {nested(5000)}}}', '{"mtime_ns": 1e999}', '{"x": NaN}'):
        for route in ("/v1/score", "/v1/settings"):
            response = call(
                app, "POST", route, content=body, headers={**AUTH, "Content-Type": "application/json"}
            )
            assert assert_error_body(response)["code"] == "bad_request"
        response = call(
            app, "POST", "/v1/score", headers=AUTH, files={"file": ("x.mp4", b"\0")}, data={"request": body}
        )
        assert assert_error_body(response)["code"] == "bad_request"


# --- fault 2: limits enforced while the bytes arrive ---------------------------------------------------
def slow_body(chunk: bytes, count: int, sent: list[int], pause_s: float = 0.0):
    async def gen():
        for _ in range(count):
            sent[0] += 1
            if pause_s:
                await asyncio.sleep(pause_s)
            yield chunk

    return gen()


def multipart_stream(boundary: str, file_chunks, request_part: bytes | None = None):
    async def gen():
        if request_part is not None:
            yield (f'--{boundary}\r\nContent-Disposition: form-data; name="request"\r\n\r\n').encode()
            yield request_part + b"\r\n"
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.mp4"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        async for chunk in file_chunks:
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    return gen()


@pytest.mark.parametrize("kind", ["json", "upload", "request-part"])
def test_every_limit_refuses_while_a_slow_client_is_still_sending(app, kind):
    """Chunks of 16 KiB, sent one by one without a Content-Length: the 413 comes once the limit is crossed,
    long before the 200 chunks (3.2 MB) are all sent."""
    sent, chunk = [0], b"7" * (16 << 10)
    mp = {**AUTH, "Content-Type": "multipart/form-data; boundary=BOUND"}
    if kind == "json":
        kwargs = {
            "content": slow_body(chunk, 200, sent, 0.002),
            "headers": {**AUTH, "Content-Type": "application/json"},
        }
        limit = 1 << 20
    elif kind == "upload":
        kwargs = {"content": multipart_stream("BOUND", slow_body(chunk, 200, sent, 0.002)), "headers": mp}
        limit = 64 << 10
    else:

        async def request_part():
            yield b'--BOUND\r\nContent-Disposition: form-data; name="request"\r\n\r\n'
            async for c in slow_body(chunk, 200, sent, 0.002):
                yield c

        kwargs = {"content": request_part(), "headers": mp}
        limit = 1 << 20
    response = call(app, "POST", "/v1/score", **kwargs)
    error = assert_error_body(response)
    code = "too_large" if kind == "upload" else "json_too_large"  # an upload is that file's error (exit 3)
    assert response.status_code == 413 and error["code"] == code, error
    assert sent[0] <= limit // len(chunk) + 2 < 200, sent
    assert response.headers.get("connection") == "close"


def test_declared_content_length_over_the_limit_is_refused_before_reading(app):
    sent = [0]
    response = call(
        app,
        "POST",
        "/v1/settings",
        content=slow_body(b"{", 3, sent),
        headers={**AUTH, "Content-Type": "application/json", "Content-Length": str(5 << 20)},
    )
    assert response.status_code == 413 and sent[0] <= 1


# --- fault 3 (in process): a client that stops sending gets 408 -----------------------------------------
@pytest.mark.parametrize("kind", ["json", "upload"])
def test_a_client_that_stops_sending_gets_408(app, kind):
    async def stalled():
        yield (
            b'{"path": '
            if kind == "json"
            else b'--BOUND\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nxx'
        )
        await asyncio.sleep(5)  # longer than the app's 0.3 s body timeout
        yield b"}"

    ctype = "application/json" if kind == "json" else "multipart/form-data; boundary=BOUND"
    response = call(app, "POST", "/v1/score", content=stalled(), headers={**AUTH, "Content-Type": ctype})
    error = assert_error_body(response)
    assert response.status_code == 408 and error["code"] == "timeout" and "--body-timeout" in error["message"]


# --- fault 7: the API description needs the token; /readyz names no server folder ------------------------
@pytest.mark.parametrize("route", ["/docs", "/redoc", "/openapi.json"])
def test_api_description_needs_the_token(app, route):
    refused = call(app, "GET", route)
    assert refused.status_code == 401 and assert_error_body(refused)["code"] == "unauthorized"
    assert (
        call(app, "GET", route, headers={"Authorization": "Bearer wrong-token-0000000000"}).status_code == 401
    )
    assert call(app, "GET", route, headers=AUTH).status_code == 200


def test_readyz_says_the_model_id_not_a_server_folder(tiny_model_dir):
    from vqa2cli.records.results import ModelInfo
    from vqa2cli.serve.access import public_model

    shown = public_model(
        ModelInfo(
            name=str(tiny_model_dir),
            repo=str(tiny_model_dir),
            revision="local",
            dtype="float32",
            quant="none",
            device="cpu",
        )
    )
    assert str(tiny_model_dir) not in json.dumps(shown) and shown["repo"] == tiny_model_dir.name
    hub = public_model(
        ModelInfo(
            name="ugc-scorer", repo="org/model", revision="abc", dtype="bf16", quant="none", device="cuda:0"
        )
    )
    assert hub["repo"] == "org/model" and hub["name"] == "ugc-scorer"
