"""The `vqa2` process start without Python's cyclic garbage collector (issue 27 §2).

A `vqa2 score` process imports torch, transformers and pytorchvideo (about 500,000 objects tracked by the
collector) and builds the model; every 700 container allocations the collector runs, and its older
generations walk what the imports already built. Measured on the 2-core build machine (benchmarks/RESULTS.md,
"Process start"): importing torch + transformers' modeling code + pytorchvideo cost 4.7-5.1 s CPU with the
collector on and 3.9-4.0 s with it off, the same work.

So the console entry point (``cli/app.py``, never the Python API: the collector is the embedding program's to
manage) calls :func:`pause` first, and the start ends at :func:`resume`, called where the start-up objects
exist: when the model is loaded (``modeling/loading.py``) or when a command writes its first result
(``output/render.py``), whichever comes first. :func:`resume` runs one full collection (cycles made during the
start are freed, not kept), moves the survivors to the permanent generation (``gc.freeze``: later collections
of a long batch skip the import-time objects) and switches the collector back on. Until then only cycles are
left uncollected; reference counting frees everything else as usual, so memory does not grow with the paused
collector beyond the start's own garbage cycles.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Switch the cyclic collector off for the start (console entry point only); :func:`resume` ends it."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """End the start: collect once, freeze the survivors, switch the collector back on. A no-op unless
    :func:`pause` switched it off (the Python API and tests leave the collector as the program set it)."""
    global _paused
    if not _paused:
        return
    _paused = False
    gc.collect()
    gc.freeze()
    gc.enable()


def restore() -> None:
    """Switch the collector back on when the start is still paused at the end of ``main`` (a command that
    ended before its first result or model: a usage error, ``--help``), without a collection: ``main`` called
    in a process that goes on (tests, an embedding program) leaves the collector as it found it."""
    global _paused
    if _paused:
        _paused = False
        gc.enable()
