"""The table line of one window of a live run (``vqa2 score - --segments 10s``, docs/live.md), printed as soon
as the window is scored, before the stream's pooled record."""

from __future__ import annotations

from ..records.cells import table_text


def window_line(row, first: bool, fail_under: float | None = None) -> str:
    """``0.6250         good    window 3: 00:00:30–00:00:40  -``: score, level, window and time range (seconds
    from the stream's first frame), input as given. ``first`` and ``fail_under`` change nothing: the
    header and the gate's marks are the pooled record's."""
    from ..video.segments import format_time

    span = f"{format_time(row.start_s)}–{format_time(row.end_s)}"
    return f"{row.score:<13.4f}  {row.level:<6}  window {row.index}: {span}  {table_text(row.path)}\n"
