"""Optional dependencies (the ``serve``, ``train`` and ``test`` extras of pyproject.toml) and the one-line error
when a command needs one that is not installed.

``vqa2 serve`` and the ``--server`` client of ``score``/``ask``/``batch`` need the ``serve`` extra (FastAPI,
uvicorn, python-multipart, prometheus-client, httpx); ``vqa2 train`` with DeepSpeed needs ``train``. Without it
the command stops with :class:`MissingExtraError`: ``Error: vqa2 serve needs the 'serve' extra: module
'fastapi' is not installed (pip install 'vqa2cli[serve]')``, exit 2 (usage: the install lacks a feature the
command line asked for, as for :class:`~vqa2cli.errors.QuantizationUnavailableError`), never an "internal
error". The CLI converts any :class:`ModuleNotFoundError` of these modules at its boundary
(:func:`missing_extra`, cli/app.py), wherever the import happens.
"""

from __future__ import annotations

from .errors import UsageError

# top-level module → the extra that installs it (pyproject.toml [project.optional-dependencies])
EXTRA_OF_MODULE = {
    "fastapi": "serve",
    "uvicorn": "serve",
    "multipart": "serve",
    "python_multipart": "serve",
    "prometheus_client": "serve",
    "httpx": "serve",
    "starlette": "serve",
    "deepspeed": "train",
}
WHAT_NEEDS = {"serve": "vqa2 serve and the --server client", "train": "vqa2 train with DeepSpeed"}


class MissingExtraError(UsageError):
    """A command needs an optional dependency that is not installed (exit 2)."""

    def __init__(self, module: str, extra: str):
        super().__init__(
            f"{WHAT_NEEDS.get(extra, 'this command')} need the '{extra}' extra: module '{module}' "
            "is not installed",
            f"pip install 'vqa2cli[{extra}]'",
        )
        self.module, self.extra = module, extra


def missing_extra(exc: BaseException) -> MissingExtraError | None:
    """``exc`` (or an exception it was raised from) as a :class:`MissingExtraError` when it is the
    :class:`ModuleNotFoundError` of a module an extra provides; ``None`` otherwise."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            top = exc.name.split(".")[0]
            if top in EXTRA_OF_MODULE:
                return MissingExtraError(top, EXTRA_OF_MODULE[top])
        exc = exc.__cause__ or exc.__context__
    return None
