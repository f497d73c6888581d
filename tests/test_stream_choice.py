"""Which video stream is scored (issue 25, 4): the one the ffmpeg CLI maps by default (its own output on the
same file is the yardstick), cover art never, the index recorded, and ``video.stream`` to choose."""

from __future__ import annotations

import pytest
from ffmpeg_cli import decoded_frames, ffmpeg, needs_ffmpeg

from vqa2cli.config import VideoSection
from vqa2cli.errors import NoVideoStreamError
from vqa2cli.video.decode import decode_clip
from vqa2cli.video.probe import probe_video

pytestmark = needs_ffmpeg


def src(size: str, rate: int = 10) -> tuple[str, ...]:
    return ("-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration=1")


LAYOUTS = {  # name: (inputs' sizes, extra muxing args)
    "small-then-big": (["64x48", "128x96"], ()),
    "big-then-small": (["128x96", "64x48"], ()),
    "default-on-small": (["64x48", "128x96"], ("-disposition:v:0", "default", "-disposition:v:1", "0")),
    "equal": (["64x48", "64x48"], ()),
}


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_the_stream_ffmpeg_picks_by_default(tmp_path, ext, layout):
    sizes, extra = LAYOUTS[layout]
    path = tmp_path / f"two.{ext}"
    inputs = [a for size in sizes for a in src(size)]
    ffmpeg(
        *inputs,
        "-map",
        "0",
        "-map",
        "1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        *extra,
        path,
    )
    chosen_by_ffmpeg = None
    first = _default_output(path)
    for index in (0, 1):
        if [md5 for _, md5 in decoded_frames(path, select=f"0:{index}")] == first:
            chosen_by_ffmpeg = index
            break
    assert chosen_by_ffmpeg is not None
    info = probe_video(path)
    assert info.stream_index == chosen_by_ffmpeg
    other = 1 - chosen_by_ffmpeg
    picked = probe_video(path, stream=other)
    assert picked.stream_index == other
    clip = decode_clip(path, VideoSection(keyframe_size=32, motion_size=32, stream=other))
    assert clip.info.stream_index == other and clip.decoded_frames == 10


def _default_output(path) -> list[str]:
    """md5s of the frames ``ffmpeg -i FILE -f framemd5`` writes with its default stream mapping."""
    import subprocess

    from ffmpeg_cli import ffmpeg_exe

    out = subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "quiet",
            "-i",
            str(path),
            "-an",
            "-fps_mode",
            "passthrough",
            "-f",
            "framemd5",
            "-",
        ],
        capture_output=True,
        text=True,
    ).stdout
    return [ln.split(",")[5].strip() for ln in out.splitlines() if ln and not ln.startswith("#")]


def test_cover_art_is_never_chosen_and_a_wrong_index_is_one_line(tmp_path):
    png = tmp_path / "cover.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x480", "-frames:v", "1", png)
    path = tmp_path / "withcover.mp4"
    ffmpeg(
        *src("64x48"),
        "-i",
        png,
        "-map",
        "1",
        "-map",
        "0",
        "-c:v:0",
        "png",
        "-disposition:v:0",
        "attached_pic",
        "-c:v:1",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        path,
    )
    import av

    with av.open(str(path)) as container:
        cover = [
            s.index for s in container.streams.video if s.disposition & av.stream.Disposition.attached_pic
        ]
    assert cover  # the muxer kept the cover art as a stream
    info = probe_video(path)
    assert info.stream_index not in cover and info.width == 64  # the bigger cover art is not a video
    with pytest.raises(
        NoVideoStreamError,
        match=f"stream {cover[0]} is not a video stream.*video streams: {info.stream_index}",
    ):
        probe_video(path, stream=cover[0])
    with pytest.raises(NoVideoStreamError, match="stream 7"):
        decode_clip(path, VideoSection(keyframe_size=32, motion_size=32, stream=7))


def test_probe_takes_the_stream_from_the_config_and_checks_it(tmp_path, capsys):
    import json

    from cli_run import run

    path = tmp_path / "two.mkv"
    ffmpeg(
        *src("64x48"),
        *src("128x96"),
        "-map",
        "0",
        "-map",
        "1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        path,
    )
    code, out, err = run(["probe", str(path), "--format", "json"], capsys)
    default = json.loads(out)[0]["stream_index"]
    assert code == 0 and default == probe_video(path).stream_index == 0  # Matroska: stream 0 is "default"
    cfg = tmp_path / "second.toml"
    cfg.write_text("[video]\nstream = 1\n")
    code, out, err = run(["probe", str(path), "--config", str(cfg), "--format", "json"], capsys)
    assert code == 0 and (json.loads(out)[0]["stream_index"], json.loads(out)[0]["width"]) == (1, 128), err
    cfg.write_text("[video]\nstream = -2\n")
    code, out, err = run(["probe", str(path), "--config", str(cfg)], capsys)
    assert code == 2 and "video.stream" in err and len(err.strip().splitlines()) == 1


def test_the_api_scores_the_stream_the_settings_name(tiny_model_dir, tmp_path):
    import vqa2cli

    path = tmp_path / "two.mkv"
    ffmpeg(
        *src("64x48"),
        *src("128x96"),
        "-map",
        "0",
        "-map",
        "1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        path,
    )
    scorer = vqa2cli.load_scorer(str(tiny_model_dir), settings={"video": {"stream": 1}})
    record = next(iter(scorer.score_files([path])))  # through the command's preflight probe
    assert record.ok and (record.input["stream_index"], record.input["width"]) == (1, 128)
    assert record.config["video"]["stream"] == 1
