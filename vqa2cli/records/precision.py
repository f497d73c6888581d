"""The precision of time-like numbers in records (issue 25): a duration read as ``7.8999999999999995`` is written
``7.9``. Rounded at the record boundary (``to_dict``), never before: computation keeps full precision.

Rules (documented in docs/real-files.md):

* seconds (every key ending in ``_s`` or ``_times`` inside ``input``, ``sampling``, ``segments``, ``worst``, ``segment``) and
  frame rates (keys ending in ``_fps``): 6 decimals (1 µs; 1e-6 frame/s);
* ``timing`` seconds stay at 4 decimals and ``peak_gpu_mem_gb`` at 3 (records/results.py);
* scores and probabilities are not touched here: they keep their own 6-decimal rounding, bit-identical.
"""

from __future__ import annotations

from typing import Any

TIME_DIGITS = 6  # seconds and frames per second in records


def is_time_key(key: str) -> bool:
    """``duration_s``, ``start_s``, ``window_s``, ``avg_fps``, ``keyframe_times``, ...: a key whose value is
    seconds or a rate (or a list of them)."""
    return key.endswith(("_s", "_fps", "_times"))


def _round_time(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, TIME_DIGITS)
    if isinstance(value, (list, tuple)) and all(isinstance(v, float) for v in value):
        return [round(v, TIME_DIGITS) for v in value]
    return round_times(value)


def round_times(value: Any) -> Any:
    """``value`` with every float under a time-like key (:func:`is_time_key`) rounded to ``TIME_DIGITS``
    decimals (each item of a list of floats too), recursively through dicts and lists; other values
    unchanged (a new dict/list is returned)."""
    if isinstance(value, dict):
        return {k: (_round_time(v) if is_time_key(str(k)) else round_times(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [round_times(v) for v in value]
    return value
