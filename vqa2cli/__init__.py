"""vqa2: score and question the perceptual quality of videos with the VQA² models.

Python API (imported lazily: ``import vqa2cli`` loads neither torch nor transformers)::

    scorer = vqa2cli.load_scorer("ugc-scorer")
    record = scorer.score("clip.mp4")   # ScoreRecord; record.score on the 0-1 scale

See :mod:`vqa2cli.api`.
"""

__version__ = "0.2.0"

_API = {
    "load_scorer": "api",
    "load_assistant": "api",
    "resolve": "api",
    "Scorer": "pipeline.run",
    "Asker": "pipeline.run",
    "compare": "jobs.compare",
    "report": "jobs.report",
    "ScoreRecord": "records.results",
    "AnswerRecord": "records.results",
    "Settings": "config",
    "calibrate": "calibration",
    "load_calibration": "calibration",
    "apply_calibration": "calibration",
    "record_golden": "verify",
    "verify_golden": "verify",
    "compare_precisions": "verify",
    "explain": "jobs.explain",
    "vmaf_document": "output.vmaf",
    "score_stream": "jobs.live_run",  # a pipe / stream scored as it arrives (docs/live.md)
}  # score --explain's API (docs/explain.md)
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    """Lazy re-exports of the API (PEP 562), so the CLI's ``--help`` stays instant."""
    if name in _API:
        import importlib

        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
