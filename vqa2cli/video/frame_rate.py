"""Constant or variable frame rate, decided from the presentation-time deltas actually read.

A stream is **constant frame rate** (CFR) when every step between consecutive presentation timestamps
(sorted: display order) equals one nominal frame duration, give or take the rounding of the clock that
wrote them; otherwise it is **variable frame rate** (VFR). What is tolerated, and why:

* **Timebase rounding.** Exact frame times rounded to the stream's clock are each within half a tick of
  their true time, so steps are ``floor(x)`` or ``ceil(x)`` ticks (29.97 fps in Matroska's 1 ms clock:
  33/34 ms; 120 fps: 8/9 ms, a 12 % spread that is still CFR). The test is therefore on the times, not
  the steps: every time must lie within one tick of the straight line through the first and last
  (``t0 + i·x``, ``x`` the mean step). A clock coarser than the stream's timebase (times rounded to 1 ms
  by an earlier muxer, then remuxed into a 90 kHz transport stream) shows as a common divisor of all
  steps; when that divisor is at most a quarter of the mean step it is the tick.
* **B-frame reordering and a truncated tail.** Packets arrive in decode order; a file cut short (truncated
  bytes, even with the index up front, ``-movflags +faststart``) loses the frames decoded after the cut,
  some of which are *shown* before frames that were read, leaving holes in the last few presentation
  times. The reorder depth ``D`` (largest distance between a packet's decode position and its display
  rank) bounds where such holes can be; the last ``2·D`` display times are left out of the decision.
* **The last frame's duration** (often shorter: the cut of ``-t``/``-shortest``) is not a presentation
  step and is not looked at.
* **Timestamps that restart** (concatenated streams): each run between restarts is judged on its own,
  and the runs must share the mean step (within one tick).

Not tolerated: duplicate timestamps (a zero step), dropped frames (a step of two frames), jittered times
(``setpts`` expressions) and rate changes (concatenated clips at different rates) are all VFR. FFmpeg's
``avg_frame_rate``/``r_frame_rate`` disagree on such files in MP4, while Matroska's header keeps the
nominal rate (ffprobe then says 30/1 for both), which is why the decision reads the timestamps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

COARSE_CLOCK_RATIO = 4  # a common divisor of the steps is the clock tick when the mean step is >= 4 of it


def reorder_depth(decode_order: Sequence[int]) -> int:
    """Largest ``|decode position - display rank|`` of ``decode_order`` (presentation timestamps in the
    order the packets were read): 0 without B-frames, typically 1-4 with them."""
    ranked = sorted(range(len(decode_order)), key=lambda i: (decode_order[i], i))
    return max((abs(rank - position) for rank, position in enumerate(ranked)), default=0)


def display_times(decode_order: Sequence[int]) -> list[int]:
    """Presentation timestamps (ticks) of one run of packets given in decode order, sorted, without the
    last ``2 · reorder_depth`` (where a truncated tail leaves holes)."""
    shown = sorted(decode_order)
    return shown[: len(shown) - 2 * reorder_depth(decode_order)]


def is_variable(runs: Sequence[Sequence[int]]) -> bool:
    """True when the presentation times do not follow one constant frame duration (module docstring).

    ``runs``: presentation timestamps in integer stream-timebase ticks, in decode order, one list per run
    of packets between timestamp restarts. Fewer than two steps in all: False (nothing says otherwise)."""
    shown = [times for times in map(display_times, runs) if len(times) >= 2]
    steps = [b - a for times in shown for a, b in zip(times, times[1:])]
    if len(steps) < 2:
        return False
    if min(steps) <= 0:
        return True  # repeated timestamps
    means = []
    for times in shown:
        mean = (times[-1] - times[0]) / (len(times) - 1)
        divisor = math.gcd(*(b - a for a, b in zip(times, times[1:])))
        tick = divisor if divisor * COARSE_CLOCK_RATIO <= mean else 1
        if any(abs(t - times[0] - i * mean) > tick for i, t in enumerate(times)):
            return True
        means.append((mean, tick))
    return any(abs(mean - means[0][0]) > max(tick, means[0][1]) for mean, tick in means)
