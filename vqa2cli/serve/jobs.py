"""The queue job of one ``/v1/score`` or ``/v1/ask`` request: its questions, ``prepare`` in a decode
thread, ``run`` in the model thread, ``fail`` for an error record named as the client named the file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InputError, UsageError
from .explain import explain_scored
from .requests import Input

if TYPE_CHECKING:
    from .app import ServerState


def request_questions(body: dict[str, Any]) -> list[str]:
    questions = body.get("questions")
    if isinstance(questions, str):
        questions = [questions]
    if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
        raise UsageError("'questions' must be a list of strings", 'e.g. {"questions": ["Is there stutter?"]}')
    questions = [q for q in questions if q.strip()]
    if not questions:
        raise UsageError("no question given", "pass QUESTION, --question TEXT or --questions-file FILE")
    return questions


def make_job(state: ServerState, task: str, source: Input, resolved, questions, explain=None):
    """The queue job of one request: ``prepare`` in a decode thread, ``run`` in the model thread.

    Scores go through the CLI's :class:`~vqa2cli.pipeline.segmented.SegmentingScorer`, so a clip past the
    model's limits, or any clip with ``segments``, gets the same windowed record (``segments``, ``pooled``,
    ``worst``) as ``vqa2 score``; its windows are decoded in one streaming pass inside ``run``. ``ask`` runs
    the asking loop of ``vqa2 ask`` (:mod:`vqa2cli.jobs.ask_run`): with ``segments`` every question for each
    window (records tagged with ``segment``).
    """
    from ..jobs.ask_run import pending_answers, prepare_clip
    from ..jobs.loop import error_row_factory
    from ..pipeline.run import preflight
    from .queue import Job

    base = state.sessions[task]
    session = type(base)(resolved.settings, base.loaded)  # same weights, this request's settings
    if state.decode_pool is not None:  # --decode-processes: the server's worker processes decode
        session.decoder = state.decode_pool
    if task == "score":
        session.configure(window_s=resolved.window_s)
    make_error = error_row_factory(resolved.settings)

    def prepare():
        problems = preflight([source.path])
        if problems:
            raise problems[0]
        if task == "score":
            return session.prepare(source.path, stalling=resolved.stalling)
        return prepare_clip(session, source.path, questions, resolved.window_s)

    def run(prepared):
        if task == "score":
            return relabel(explain_scored(state, session.run(prepared), explain), source)
        return [
            relabel(item.produce(None), source)
            for item in pending_answers(session, prepared, source.path, questions)
        ]

    def fail(exc: BaseException):
        free_cuda(exc)
        return relabel(make_error(source.path, exc), source)

    return Job(prepare=prepare, run=run, fail=fail)


def free_cuda(exc: BaseException) -> None:
    """After a model failure (out of memory) give cached CUDA memory back so the next request can run."""
    if isinstance(exc, InputError):
        return
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - best effort
        pass


def relabel(record, source: Input):
    """Show the client's name instead of the private upload path (path, error message, warnings)."""
    from ..records.cells import relabel_text  # one rule for every route (routes_compare too)

    if source.path == source.name:
        return record
    names = {source.path: source.name}
    record.path = source.name
    if record.error:
        record.error = relabel_text(record.error, names)
    record.warnings = [relabel_text(w, names) for w in record.warnings]
    return record
