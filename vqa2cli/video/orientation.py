"""A stream's display matrix as the turn and mirror that show its frames upright, as ffmpeg's autorotate does.

The display matrix (``AV_FRAME_DATA_DISPLAYMATRIX``, from MP4/MOV ``tkhd``, Matroska projection, H.264/HEVC
SEI; 3×3, 16.16 fixed point) maps a stored pixel ``(x, y)`` to its displayed place
``(a·x + c·y, b·x + d·y)`` with ``a, b, c, d = m[0], m[1], m[3], m[4]``. The ffmpeg CLI (autorotate, on by
default) applies every one of the 8 orientations it can express, rotations and mirrors alike (transpose,
hflip, vflip filters). Each of them is "turn ``rotation`` degrees clockwise, then mirror left-right when
``hflip``" (a vertical mirror = a 180° turn, then a horizontal mirror):

* no mirror (determinant ``a·d − b·c > 0``): ``rotation = atan2(b, a)`` (clockwise);
* a mirror (determinant < 0): undo the horizontal mirror (``a → −a``, ``b`` kept), then the same.

Checked frame for frame against ffmpeg's autorotated decode of files written with ``-display_rotation``,
``-display_hflip`` and ``-display_vflip`` (tests/test_orientation.py). A rotation that is not a multiple of
90° (ffmpeg then uses its ``rotate`` filter, filling corners) is rounded to the nearest quarter turn, with a
warning. PyAV's ``VideoFrame.rotation`` keeps only the angle and reads a mirror as a 180° turn; torchvision's
reader ignores mirrors (issue 25, 3): this module reads the matrix itself.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class Orientation:
    """Turn ``rotation`` degrees clockwise (0, 90, 180, 270), then mirror left-right when ``hflip``."""

    rotation: int = 0
    hflip: bool = False
    off_axis: float | None = None  # the matrix's angle (degrees) when it was not a quarter turn (rounded)

    @property
    def transform(self) -> str:
        """What is applied, in FFmpeg's filter words: ``none``, ``rotate 90``, ``hflip``, ``rotate 180+hflip``
        (= ``vflip``), ..."""
        parts = ([f"rotate {self.rotation}"] if self.rotation else []) + (["hflip"] if self.hflip else [])
        return "+".join(parts) or "none"

    def apply(self, image):
        """``image`` (numpy ``[H, W, ...]``, stored orientation) → the displayed view (no copy)."""
        import numpy as np

        turned = np.rot90(image, k=-self.rotation // 90) if self.rotation else image
        return turned[:, ::-1] if self.hflip else turned


def from_matrix(matrix) -> Orientation:
    """The orientation of a display matrix (9 int32, 16.16 fixed point; FFmpeg's layout); None → upright."""
    if matrix is None:
        return Orientation()
    a, b, c, d = (v / 65536 for v in (matrix[0], matrix[1], matrix[3], matrix[4]))
    mirror = a * d - b * c < 0
    if mirror:
        a = -a
    angle = math.degrees(math.atan2(b, a)) % 360
    quarter = int(round(angle / 90)) % 4 * 90
    off = abs((angle - quarter + 180) % 360 - 180)
    return Orientation(quarter, mirror, round(angle, 2) if off > 1.0 else None)


def frame_matrix(frame) -> tuple[int, ...] | None:
    """The display matrix of a decoded PyAV frame (its side data), or None."""
    import av

    for data in frame.side_data:
        if data.type == av.sidedata.sidedata.Type.DISPLAYMATRIX:
            raw = bytes(data)
            return struct.unpack("<9i", raw[:36]) if len(raw) >= 36 else None
    return None


def frame_orientation(frame) -> Orientation:
    """The orientation that shows ``frame`` upright (:func:`from_matrix` of its display matrix)."""
    return from_matrix(frame_matrix(frame))
