"""A loopback HTTP server for network-input tests (issue 26): serves a folder, and a few misbehaving routes,
counting every request it receives (``server.hits``: path → count). Nothing leaves 127.0.0.1."""

from __future__ import annotations

import base64
import shutil
import subprocess
import threading
from collections import Counter
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SECRET = "secret"


class Handler(SimpleHTTPRequestHandler):
    hits: Counter
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        self.hits[self.path.split("?")[0]] += 1
        route = self.path.split("?")[0]
        special = {
            "/loop": lambda: self._redirect("/loop"),
            "/hop": lambda: self._redirect("/clip.mkv"),
            "/missing.mp4": lambda: self._status(404),
            "/broken.mp4": lambda: self._status(500),
            "/short.mkv": lambda: self._lie(+1000),
            "/long.mkv": lambda: self._lie(-1000),
            "/slow.mkv": self._stall,
        }
        if route in special:
            return special[route]()
        if route.startswith("/private/"):
            want = "Basic " + base64.b64encode(f"user:{SECRET}".encode()).decode()
            if self.headers.get("Authorization") != want:
                return self._status(401)
            self.path = self.path.replace("/private", "", 1)
        return super().do_GET()

    def end_headers(self):
        if getattr(self, "_etag", True):
            self.send_header("ETag", '"v1"')
        super().end_headers()

    def _stall(self):  # headers, then silence: a read time-out
        import time

        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.flush()
        time.sleep(3)

    def _redirect(self, to: str):
        self.send_response(302)
        self.send_header("Location", to)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _status(self, code: int):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _lie(self, delta: int):
        body = (Path(self.directory) / "clip.mkv").read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) + delta))
        self.end_headers()
        self.wfile.write(body)


class Loopback:
    """``with Loopback(folder) as server: server.url("/clip.mkv")``."""

    def __init__(self, folder: Path):
        self.hits: Counter = Counter()
        handler = type("H", (Handler,), {"hits": self.hits})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str, auth: str = "") -> str:
        return f"http://{auth}127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Loopback:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_ladder(folder: Path) -> dict[str, Path]:
    """Three tiny renditions (64/96/128 px high, 1 s, 24 fps, H.264, a key frame every 12) and their HLS (MPEG-TS segments) and
    DASH (fMP4) packagings made by the ffmpeg CLI with ``-c copy``: → {"r64": mp4, ..., "hls": master,
    "dash": mpd, "audio": an audio-only HLS master}. Raises FileNotFoundError without ffmpeg."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise FileNotFoundError("ffmpeg")
    run = partial(subprocess.run, check=True, capture_output=True, cwd=folder)
    out: dict[str, Path] = {}
    for h in (64, 96, 128):
        w = h * 4 // 3 // 2 * 2
        name = f"r{h}.mp4"
        run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate=24:duration=1",
             "-c:v", "libx264", "-g", "12", "-pix_fmt", "yuv420p", "-b:v", f"{h}k", name])  # fmt: skip
        out[f"r{h}"] = folder / name
    maps = ["-i", "r64.mp4", "-i", "r96.mp4", "-i", "r128.mp4", "-map", "0:v", "-map", "1:v", "-map", "2:v"]
    run([ffmpeg, "-v", "error", "-y", *maps, "-c", "copy", "-f", "hls", "-hls_time", "0.5",
         "-hls_playlist_type", "vod", "-master_pl_name", "master.m3u8", "-var_stream_map", "v:0 v:1 v:2",
         "-hls_segment_filename", "v%v_%03d.ts", "v%v.m3u8"])  # fmt: skip
    (folder / "dash").mkdir(exist_ok=True)
    run([ffmpeg, "-v", "error", "-y", *maps, "-c", "copy", "-f", "dash", "-seg_duration", "0.5",
         "-b:v:0", "64k", "-b:v:1", "96k", "-b:v:2", "128k", "dash/manifest.mpd"])  # fmt: skip
    (folder / "audio.m3u8").write_text(
        '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS="mp4a.40.2"\naudio/a.m3u8\n'
    )
    out.update(hls=folder / "master.m3u8", dash=folder / "dash" / "manifest.mpd", audio=folder / "audio.m3u8")
    return out
