"""Sizes before download (issue 26 §4): the cards' declared checkpoint, `models list` sizes, and `vqa2 doctor
--model NAME` / the memory preflight answering "fits / does not fit, in which precision" for weights that are
not downloaded, with the network off (HF_HUB_OFFLINE=1, an empty HF cache, sockets refused): no download."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vqa2cli.modeling.architectures import ARCHITECTURES, declared, declared_specs
from vqa2cli.registry import list_cards

ROOT = Path(__file__).resolve().parent.parent
CARDS = [c.name for c in list_cards()]


def test_every_shipped_card_declares_its_checkpoint():
    for card in list_cards():
        ck = card.checkpoint
        assert declared(card) is not None and ck["architecture"] in ARCHITECTURES, card.name
        assert ck["dtype"] == "bf16" and ck["size_bytes"] == 2 * ck["parameters"], card.name  # bf16 shards
        assert "checkpoint" not in card.layer  # not a settings section: the settings layer never sees it


def test_declared_shapes_count_the_published_parameters():
    """Our loaded layout leaves out only the SlowFast slow pathway and the fusion convolutions (checkpoint_keys
    DROPPED), 0.4 % of the 8,078,335,736 parameters the official layout has."""
    card = list_cards()[0]
    loaded = sum(s.numel for s in declared_specs(card))
    assert 0.99 * card.checkpoint["parameters"] < loaded < card.checkpoint["parameters"]
    assert {s.dtype for s in declared_specs(card)} == {"BF16"}


SCRIPT = r"""
import contextlib, io, json, os, socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[1:] or args))
    raise OSError("network off in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
import huggingface_hub
cache_lookup = huggingface_hub.snapshot_download
def snapshot_download(*args, **kwargs):  # a cache lookup (local_files_only) is allowed, a download is not
    if not kwargs.get("local_files_only"):
        refuse(None, args, kwargs)
    return cache_lookup(*args, **kwargs)
huggingface_hub.snapshot_download = snapshot_download
huggingface_hub.hf_hub_download = refuse
from vqa2cli.cli.app import main

def run(args, memory_gb):
    os.environ["VQA2_FAKE_AVAILABLE_MEMORY_GB"] = str(memory_gb)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = exc.code
    return {"code": code, "out": out.getvalue(), "err": err.getvalue()}

cards, clip = json.loads(sys.argv[1]), sys.argv[2]
result = {"doctor": {}, "score": {}}
for name in cards:
    for gb in (100, 10, 5):
        result["doctor"][f"{name}@{gb}"] = run(["doctor", "--model", name, "--device", "cpu", "-f", "json"], gb)
result["models"] = run(["models", "list", "-f", "json"], 100)
for gb in (1, 100):
    result["score"][str(gb)] = run(["score", clip, "-m", "ugc-scorer", "--device", "cpu", "-q"], gb)
result["attempts"] = attempts
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def offline(tmp_path_factory, make_clip):
    hf_home = tmp_path_factory.mktemp("hf-empty")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", NO_COLOR="1", PYTHONPATH=str(ROOT))
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(CARDS), str(make_clip("sizes.mp4"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.splitlines()[-1])
    assert not list(hf_home.rglob("*.safetensors"))
    return result


@pytest.mark.e2e
def test_doctor_model_verdicts_offline_for_every_card(offline):
    assert offline["attempts"] == [], "no connection attempted"
    expected = {
        100: ("fits", "--quant none --dtype"),
        10: ("fits with 4-bit", "--quant 4bit --dtype"),
        5: ("does not fit", None),
    }
    for name in CARDS:
        for gb, (verdict, flags) in expected.items():
            run = offline["doctor"][f"{name}@{gb}"]
            assert run["code"] == 0, run["err"]
            (row,) = json.loads(run["out"])["models"]
            assert row["name"] == name and not row["cached"] and row["error"] is None
            assert row["size_bytes"] > 16e9 and row["parameters"] > 8e9
            p = row["preflight"]
            assert p["source"] == "card" and p["verdict"] == verdict, (name, gb, p)
            assert (p["precision"] or "").startswith(flags) if flags else p["precision"] is None
            assert (
                p["estimates_gb"]["4bit"] < 10 < p["estimates_gb"]["8bit"] < p["estimates_gb"]["none"] < 100
            )


@pytest.mark.e2e
def test_models_list_shows_sizes_offline(offline):
    rows = json.loads(offline["models"]["out"])
    assert [r["name"] for r in rows] == CARDS
    assert all(
        r["size_bytes"] == 16_156_671_472 and r["parameters"] == 8_078_335_736 and not r["cached"]
        for r in rows
    )


@pytest.mark.e2e
def test_score_preflight_refuses_before_the_download(offline):
    small = offline["score"]["1"]
    assert small["code"] == 4 and "does not fit" in small["err"] and "not downloaded" in small["err"], small[
        "err"
    ]
    big = offline["score"]["100"]  # fits: goes on to the (offline) download, which says so
    assert big["code"] == 4 and "does not fit" not in big["err"] and "offline" in big["err"].lower(), big[
        "err"
    ]
