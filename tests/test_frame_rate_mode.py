"""CFR/VFR decided from the presentation times read (vqa2cli.video.frame_rate), over a family of files made
at test time with the ffmpeg CLI: CFR in MP4/MKV/TS at 24000/1001, 25, 30, 60 (and 120/240 in Matroska's
1 ms clock), CFR with B-frames and ``+faststart`` cut short at several points, and VFR made by ``setpts``
jitter, duplicated timestamps, dropped frames and mixed rates joined by concat. Where ffprobe can tell
(MP4: ``avg_frame_rate`` differs from ``r_frame_rate`` exactly on VFR files) it is compared too; VFR
windows by presentation time still tile every frame."""

from __future__ import annotations

from pathlib import Path

import pytest
from ffmpeg_cli import ffmpeg, needs_ffmpeg_for, stream_info

from vqa2cli.video.decode import presentation_times
from vqa2cli.video.frame_rate import display_times, is_variable, reorder_depth
from vqa2cli.video.probe import probe_video
from vqa2cli.video.segments import plan_windows

needs_ffmpeg = needs_ffmpeg_for("to make and measure the files")
X264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")


def ffprobe_rates(path: Path) -> tuple[str, str]:
    """(r_frame_rate, avg_frame_rate) as ffmpeg prints them (``tbr``, ``fps``; ffprobe is not shipped)."""
    info = stream_info(path)
    return info["tbr"], info["fps"]


def lavfi(rate="30", seconds=3, size="64x48"):
    return ("-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}")


# ---------------------------------------------------------------- the decision on timestamp lists


def test_rounding_to_a_coarse_clock_is_cfr():
    for fps in (23.976, 29.97, 60, 120, 240):  # Matroska's 1 ms clock: 8/9 ms steps at 120 fps is still CFR
        ms = [round(i * 1000 / fps) for i in range(200)]
        assert not is_variable([ms]), fps
        in_90k = [t * 90 for t in ms]  # the same times remuxed into a 90 kHz transport stream
        assert not is_variable([in_90k]), fps


def test_any_irregular_step_is_vfr():
    cfr = [i * 512 for i in range(100)]
    assert not is_variable([cfr])
    assert is_variable([cfr[:50] + cfr[51:]])  # one dropped frame
    assert is_variable([cfr[:50] + [cfr[50]] + cfr[50:]])  # one duplicated timestamp
    assert is_variable([[t + (40 if i % 3 == 0 else 0) for i, t in enumerate(cfr)]])  # jitter under 10 %
    assert is_variable([[i * 512 for i in range(50)] + [25600 + i * 1024 for i in range(50)]])  # rate change


def test_b_frame_reordering_and_a_truncated_tail():
    # I0 P4 B2 B1 B3 P8 B6 B5 B7 ... in decode order (display ticks of 100), cut after a P frame
    gop = [0, 4, 2, 1, 3]
    for k in range(1, 10):
        gop += [4 * k + 4, 4 * k + 2, 4 * k + 1, 4 * k + 3]
    order = [t * 100 for t in gop]
    assert reorder_depth(order) == 3
    for cut in range(8, len(order)):
        assert not is_variable([order[:cut]]), cut
        shown = display_times(order[:cut])
        assert shown == list(range(0, 100 * len(shown), 100))


def test_runs_between_restarts_are_judged_apart():
    run = [i * 3000 for i in range(40)]
    assert not is_variable([run, run])  # concatenated streams, both from 0
    assert is_variable([run, [i * 3600 for i in range(40)]])  # the second part at 25 fps
    assert not is_variable([[0]]) and not is_variable([])


# ---------------------------------------------------------------- files made with ffmpeg


@needs_ffmpeg
@pytest.mark.parametrize("rate", ["24000/1001", "25", "30", "60"])
@pytest.mark.parametrize("ext", ["mp4", "mkv", "ts"])
def test_cfr_files_are_cfr(tmp_path, rate, ext):
    path = tmp_path / f"cfr.{ext}"
    ffmpeg(*lavfi(rate), *X264, "-bf", "2", path)
    assert not probe_video(path).vfr
    if ext == "mp4":
        r_rate, avg_rate = ffprobe_rates(path)
        assert r_rate == avg_rate


@needs_ffmpeg
@pytest.mark.parametrize("rate", ["120", "240"])
def test_high_rate_in_a_millisecond_clock_is_cfr(tmp_path, rate):
    path = tmp_path / "fast.mkv"
    ffmpeg(*lavfi(rate, seconds=1), *X264, path)
    assert not probe_video(path).vfr


@needs_ffmpeg
@pytest.mark.parametrize("ext", ["mp4", "mkv", "ts"])
def test_truncated_cfr_with_b_frames_is_cfr(tmp_path, ext):
    whole = tmp_path / f"whole.{ext}"
    ffmpeg(
        *lavfi("30", seconds=6, size="320x240"),
        "-c:v",
        "libx264",
        "-preset",
        "medium",
        "-bf",
        "3",
        "-pix_fmt",
        "yuv420p",
        *(("-movflags", "+faststart") if ext == "mp4" else ()),
        whole,
    )
    data = whole.read_bytes()
    for eighth in range(2, 8):
        cut = tmp_path / f"cut{eighth}.{ext}"
        cut.write_bytes(data[: len(data) * eighth // 8])
        info = probe_video(cut)
        assert 0 < info.n_frames < 180  # frames were lost
        assert not info.vfr, (eighth, info.n_frames)
    assert ffprobe_rates(whole)[0] == ffprobe_rates(whole)[1] == "30"


VFR_RECIPES = {
    "jitter": ("-vf", "settb=1/90000,setpts='N/30/TB+0.004*sin(N)/TB'", "-enc_time_base", "1/90000"),
    "sine-dups": ("-vf", "setpts='N/30/TB+0.02*sin(N)/TB'", "-enc_time_base", "1/90000"),
    "dropped": (
        "-vf",
        r"select='not(eq(mod(n\,7)\,3))'",
    ),
}


@needs_ffmpeg
@pytest.mark.parametrize("recipe", sorted(VFR_RECIPES))
@pytest.mark.parametrize("ext", ["mp4", "mkv", "ts"])
def test_vfr_files_are_vfr_and_windows_tile(tmp_path, recipe, ext):
    path = tmp_path / f"{recipe}.{ext}"
    ffmpeg(*lavfi("30", seconds=4), *VFR_RECIPES[recipe], "-fps_mode", "vfr", *X264, path)
    info = probe_video(path)
    assert info.vfr
    if ext == "mp4":
        r_rate, avg_rate = ffprobe_rates(path)
        assert r_rate != avg_rate
    assert_windows_tile(info)


@needs_ffmpeg
@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_mixed_rates_joined_by_concat_are_vfr(tmp_path, ext):
    path = tmp_path / f"mixed.{ext}"
    ffmpeg(
        *lavfi("30", seconds=2),
        *lavfi("12", seconds=2),
        "-filter_complex",
        "[0][1]concat=n=2:v=1",
        "-fps_mode",
        "vfr",
        *X264,
        path,
    )
    info = probe_video(path)
    assert info.vfr
    if ext == "mp4":
        assert ffprobe_rates(path)[0] != ffprobe_rates(path)[1]
    assert_windows_tile(info)


def assert_windows_tile(info) -> None:
    times = presentation_times(info)
    assert times is not None and len(times) == info.n_frames
    for window_s in (0.5, 1.0, 1.3):
        windows = plan_windows(
            info.n_frames, info.avg_fps, window_s, frame_times=times, duration_s=info.duration_s
        )
        assert windows[0].start == 0 and windows[-1].stop == info.n_frames
        assert all(a.stop == b.start and a.end_s == b.start_s for a, b in zip(windows, windows[1:]))
        assert all(w.n_frames > 0 for w in windows)
