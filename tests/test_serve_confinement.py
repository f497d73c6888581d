"""`{"path": ...}` confinement holds for what is read, not for a name checked earlier: over a set of file-system
changes made between the request's check and its decode (a symlink swapped in for the file, the folder
swapped for a symlink to an outside folder, the folder renamed and replaced, the file replaced by a FIFO),
at two moments (after the name check, before the open; after the open, before the decode), and with a helper
thread flipping the file system while requests run, the server (in process, the tiny model) never scores
the bytes of the file outside the roots: each answer is the in-root clip's record or a refusal."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from vqa2cli.serve import security  # noqa: E402
from vqa2cli.serve.app import ServeConfig, ServerState, create_app  # noqa: E402


def _swap_symlink(base, inside, outside):  # the file becomes a symlink to the outside file (atomic rename)
    tmp = base / "root" / "sub" / ".swap"
    os.symlink(outside / "clip.mp4", tmp)
    os.replace(tmp, inside / "clip.mp4")


def _swap_folder(base, inside, outside):  # the folder becomes a symlink to the outside folder
    os.rename(inside, base / "root" / "old")
    os.symlink(outside, inside)


def _rename_and_replace(base, inside, outside):  # the folder is renamed, an outside copy takes its name
    os.rename(inside, base / "root" / "old")
    shutil.copytree(outside, base / "root" / "staging", symlinks=True)
    os.replace(base / "root" / "staging", inside)
    os.replace(inside / "clip.mp4", inside / "gone.mp4")
    os.symlink(outside / "clip.mp4", inside / "clip.mp4")


def _fifo(base, inside, outside):  # the file is replaced by a FIFO (an open without O_NONBLOCK would hang)
    os.unlink(inside / "clip.mp4")
    os.mkfifo(inside / "clip.mp4")


CHANGES = {
    "symlink": _swap_symlink,
    "folder-symlink": _swap_folder,
    "rename-replace": _rename_and_replace,
    "fifo": _fifo,
}


@pytest.fixture(scope="module")
def served(tiny_model_dir, make_clip):
    from fastapi.testclient import TestClient

    inside = make_clip("conf-in.mp4", seconds=1.0, fps=4, width=48, height=32)
    secret = make_clip("conf-out.mp4", seconds=2.0, fps=4, width=32, height=48)
    state = ServerState(ServeConfig(model=str(tiny_model_dir), max_queue=4, workers=1))
    state.load()
    client = TestClient(create_app(state))
    yield state, client, inside, secret
    state.queue.close(timeout=30)


def _tree(base, inside_clip, secret_clip):
    root, outside = base / "root", base / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    shutil.copyfile(inside_clip, root / "sub" / "clip.mp4")
    shutil.copyfile(secret_clip, outside / "clip.mp4")
    return root, outside


def _check(response, inside_size: int, secret_size: int) -> str:
    body = response.json()
    if response.status_code == 200:
        assert body["input"]["size_bytes"] == inside_size, body["input"]
        assert body["input"]["container"] == "mp4"  # the format named from the shown name, as the CLI does
        return "scored"
    assert response.status_code in (403, 422), (response.status_code, body)
    record_input = body.get("input") or {}
    assert record_input.get("size_bytes") != secret_size, body
    return "refused"


@pytest.mark.parametrize("moment", ["after-check", "after-open"])
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_changed_file_system_never_makes_the_server_read_outside(
    served, tmp_path, monkeypatch, change, moment
):
    state, client, inside_clip, secret_clip = served
    root, outside = _tree(tmp_path, inside_clip, secret_clip)
    state.config.roots = [root.resolve()]
    inside = root / "sub"
    did = []

    def change_once():
        if not did:
            did.append(1)
            CHANGES[change](tmp_path, inside, outside)

    if moment == "after-check":
        real_confine = security.confine

        def confine(raw, roots):
            checked = real_confine(raw, roots)
            change_once()
            return checked

        monkeypatch.setattr(security, "confine", confine)
    else:
        import vqa2cli.pipeline.run as run_module

        real_preflight = run_module.preflight

        def preflight(paths):
            change_once()
            return real_preflight(paths)

        monkeypatch.setattr(run_module, "preflight", preflight)
    response = client.post("/v1/score", json={"path": str(inside / "clip.mp4")})
    assert did, "the file system change did not run"
    outcome = _check(response, inside_clip.stat().st_size, secret_clip.stat().st_size)
    if moment == "after-open":  # the descriptor was verified before the change: the in-root bytes are scored
        assert outcome == "scored" and response.json()["path"] == str(inside / "clip.mp4")


def test_a_helper_thread_flipping_the_file_system_during_requests(served, tmp_path):
    """A thread flips `sub` between the real folder and a symlink to the outside one as fast as it can
    while 12 requests run: every answer is the in-root clip or a refusal."""
    state, client, inside_clip, secret_clip = served
    root, outside = _tree(tmp_path, inside_clip, secret_clip)
    state.config.roots = [root.resolve()]
    inside, real_dir, link = root / "sub", root / "real", root / "link"
    os.rename(inside, real_dir)
    os.symlink(real_dir, inside)
    os.symlink(outside, link)
    stop = threading.Event()

    def flip():
        tmp = root / ".flip"
        while not stop.is_set():
            for target in (outside, real_dir):
                if os.path.lexists(tmp):
                    os.unlink(tmp)
                os.symlink(target, tmp)
                os.replace(tmp, inside)
                time.sleep(0.0005)

    thread = threading.Thread(target=flip, daemon=True)
    thread.start()
    outcomes = []
    try:
        for _ in range(12):
            response = client.post("/v1/score", json={"path": str(inside / "clip.mp4")})
            outcomes.append(_check(response, inside_clip.stat().st_size, secret_clip.stat().st_size))
    finally:
        stop.set()
        thread.join(timeout=10)
    assert len(outcomes) == 12
