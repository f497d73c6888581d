"""`score --server URL --explain`: a server started with --assistant explains with the assistant it holds, the
same words as the in-process two-phase run (greedy, same weights and settings); bad explain options are 422."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

from test_serve import run

pytestmark = pytest.mark.e2e  # a real uvicorn server in another process


@pytest.fixture(scope="module")
def files(windowed_server):
    """``long`` (52 lossless frames), ``config`` (small.toml), ``root``: the shared server's (tests/conftest.py)."""
    return windowed_server


@pytest.fixture(scope="module")
def url(windowed_server) -> str:
    return windowed_server["url"]


def _explained(record):
    return [
        (s["index"], {k: v for k, v in s["explanation"].items()})
        for s in record["segments"]
        if "explanation" in s
    ]


def test_server_explains_as_the_local_run(url, tiny_model_dir, files, capsys):
    clip = str(files["long"])
    flags = ["--segments", "2s", "--explain", "--explain-top", "2", "-f", "json", "-q"]
    code, mine, err = run(
        [
            "score",
            clip,
            *flags,
            "-m",
            str(tiny_model_dir),
            "--config",
            str(files["config"]),
            "--assistant",
            str(tiny_model_dir),
        ],
        capsys,
    )
    assert code == 0, err
    code, theirs, err = run(["score", clip, *flags, "--server", url], capsys)
    assert code == 0, err
    mine, theirs = json.loads(mine)[0], json.loads(theirs)[0]
    assert len(_explained(theirs)) == 2 and _explained(theirs) == _explained(mine)
    import httpx

    bad = httpx.post(f"{url}/v1/score", json={"path": clip, "options": {"explain": {"top": 0}}}, timeout=60)
    assert bad.status_code == 422 and "top" in bad.text
    code, _, err = run(["score", clip, "--explain", "--assistant", "x", "--server", url], capsys)
    assert code == 2 and "server's" in err
