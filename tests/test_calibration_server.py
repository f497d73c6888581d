"""The server's calibration and golden clips (serve/routes_calibration.py), in process: POST /v1/calibrate
answers the same file as the API, /v1/score's ``calibration`` field gives the record its calibrated value, a
calibration for other settings is refused with 422 before the video is scored; POST /v1/verify re-scores a
golden file's clips (Δ = 0 against a recording with the same settings) and refuses an edited one."""

import json

import numpy as np
import pytest

pytest.importorskip("fastapi")

from starlette.testclient import TestClient  # noqa: E402

import vqa2cli  # noqa: E402
from vqa2cli.calibration.file import from_json  # noqa: E402
from vqa2cli.serve.app import ServeConfig, ServerState, create_app  # noqa: E402


@pytest.fixture(scope="module")
def client(tiny_model_dir, make_clip):
    clip = make_clip("srv-cal.mp4", seconds=1.0, fps=4, width=32, height=32)
    state = ServerState(ServeConfig(model=str(tiny_model_dir), roots=[clip.parent], workers=1))
    state.load()
    with TestClient(create_app(state)) as c:
        yield c, clip, state
    state.queue.close(timeout=10)


def _pairs(n=20):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 0.8, n)
    return [float(v) for v in x], [float(v) for v in 1 + 4 * x**2 + rng.normal(0, 0.05, n)]


def test_calibrate_route_and_score_with_calibration(client):
    c, clip, state = client
    scores, labels = _pairs()
    r = c.post("/v1/calibrate", json={"scores": scores, "labels": labels, "scale": "mos", "bootstrap": 10})
    assert r.status_code == 200, r.text
    body = r.json()
    config = state.resolvers["score"].base()[0].to_dict()
    api = vqa2cli.calibrate(scores, labels, config=config, scale="mos", n_boot=10)
    assert body["kind"] == api.kind and body["settings"] == api.to_json()["settings"]
    r = c.post("/v1/score", json={"path": str(clip), "calibration": body})
    assert r.status_code == 200, r.text
    record = r.json()
    want = from_json(body).apply(record["score"])
    assert (
        record["calibrated"]["scale"] == "mos"
        and record["calibrated"]["extrapolated"] == want["extrapolated"]
    )
    assert record["calibrated"]["value"] == pytest.approx(want["value"], abs=1e-4)
    assert record["spread"]["std"] >= 0


def test_calibrate_route_refuses_a_decreasing_map_422(client):
    c, _, _ = client
    scores, labels = _pairs()
    r = c.post("/v1/calibrate", json={"scores": scores, "labels": [6 - v for v in labels], "bootstrap": 10})
    assert r.status_code == 422 and "no calibration fits" in r.text


def test_mismatched_or_edited_calibration_refused_422(client):
    c, clip, _ = client
    scores, labels = _pairs()
    body = c.post("/v1/calibrate", json={"scores": scores, "labels": labels, "bootstrap": 10}).json()
    edited = json.loads(json.dumps(body))
    edited["settings"]["model"]["revision"] = "other"
    r = c.post("/v1/score", json={"path": str(clip), "calibration": edited})
    assert r.status_code == 422 and "edited by hand" in r.json()["error"]["message"]
    r = c.post("/v1/calibrate", json={"scores": scores[:5], "labels": labels[:5]})
    assert r.status_code == 422 and "at least 10" in r.json()["error"]["message"]


def test_verify_route_same_settings_is_delta_zero(client, tiny_model_dir, tmp_path):
    c, clip, _ = client
    golden = tmp_path / "golden.json"
    vqa2cli.record_golden([str(clip)], str(golden), model=str(tiny_model_dir))
    body = json.loads(golden.read_text())
    r = c.post("/v1/verify", json={"golden": body})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["passed"] and got["runs"][0]["max_abs_delta"] == 0 and got["unreadable"] == 0
    r = c.post("/v1/verify", json={"golden": body | {"created": "yesterday"}})
    assert r.status_code == 422 and "edited by hand" in r.json()["error"]["message"]
