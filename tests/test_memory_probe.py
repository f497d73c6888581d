"""Available RAM comes from psutil (Linux, macOS/MPS, Windows), capped by the cgroup limit (issue 25)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vqa2cli.modeling import memory


@pytest.fixture
def fake_psutil(monkeypatch):
    import psutil

    monkeypatch.setattr(
        psutil, "virtual_memory", lambda: SimpleNamespace(available=6 * 2**30, total=16 * 2**30)
    )


def test_ram_is_psutil_s_figure_without_a_cgroup_limit(fake_psutil, monkeypatch, tmp_path):
    monkeypatch.setattr(memory, "CGROUP_FILES", ((str(tmp_path / "none"), str(tmp_path / "none2")),))
    assert memory.system_ram() == (6 * 2**30, 16 * 2**30)


@pytest.mark.parametrize(
    "limit, used, expected",
    [
        ("4294967296", "1073741824", 3 * 2**30),  # 4 GiB, 1 used
        ("max", "1073741824", 6 * 2**30),
        ("9223372036854771712", "5", 6 * 2**30),
    ],
)  # v1: none
def test_the_cgroup_limit_caps_what_is_available(fake_psutil, monkeypatch, tmp_path, limit, used, expected):
    (tmp_path / "max").write_text(limit + "\n")
    (tmp_path / "current").write_text(used + "\n")
    monkeypatch.setattr(memory, "CGROUP_FILES", ((str(tmp_path / "max"), str(tmp_path / "current")),))
    assert memory.system_ram() == (expected, 16 * 2**30)


def test_mps_without_a_recommended_limit_still_gets_a_figure(fake_psutil, monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(memory, "CGROUP_FILES", ())
    monkeypatch.delenv(memory.FAKE_AVAILABLE_ENV, raising=False)
    monkeypatch.delattr(torch.mps, "recommended_max_memory", raising=False)
    assert memory.available_memory(SimpleNamespace(type="mps")) == (6 * 2**30, "RAM")
