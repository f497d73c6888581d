"""One entry point for every input that is not a local file: :func:`materialized` turns the inputs as given
(paths, ``-``, ``http(s)://`` URLs, HLS/DASH manifests) into local files for the run, and names each
record back by its :class:`Origin` (the input as given, without credentials, plus what was read).

Used by ``score``, ``ask``, ``batch``, ``compare``, the Python API and the ``--server`` client (which
uploads the local copies: the server never fetches a URL or reads a pipe). The copies are private
temporary files (``tempfile``: mode 0600 in ``$TMPDIR``) deleted when the block ends, also on an error or
Ctrl-C. An input that cannot be made local is an error record for that input (exit 3; a batch goes on),
never an exception for the whole run, unless the caller asks for ``strict`` (one file: ``ask``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..errors import InputError
from .given import InputKind, input_kind, shown

_COPIES: dict[str, str] = {}  # the temporary copies alive now → the input as shown (--server uploads these)


def is_local_copy(path: str) -> bool:
    """True for a temporary copy made by :func:`materialized` (of ``-``, a URL or a manifest variant): the
    ``--server`` client uploads it even with ``--server-paths`` (the server reads no pipe, fetches no URL)."""
    return path in _COPIES


@dataclass(frozen=True)
class Origin:
    """Where a record's video came from: ``given`` (as :func:`~vqa2cli.inputs.given.shown` names it),
    ``kind`` (``stdin``, ``url``, ``hls``, ``dash``), for a manifest the variant read (``variant`` index,
    ``bandwidth`` bits/s, ``width``/``height`` pixels), and ``identity`` (``etag``, ``last_modified``,
    ``content_length`` as the server sent them; the ``--resume`` key of a URL). ``to_dict()`` is the
    record's ``origin`` field (docs/output.md)."""

    given: str
    kind: str
    variant: dict[str, Any] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"given": self.given, "kind": self.kind, **self.variant}
        if self.identity:
            out["identity"] = dict(self.identity)
        return out


@dataclass
class Item:
    """One record's input: ``path`` (local, to read) and ``origin`` (None for a plain file), or ``error``."""

    given: str
    path: str | None
    origin: Origin | None = None
    error: InputError | None = None


@dataclass
class Materialized:
    """The inputs made local, in the order given (a manifest with ``--variant all``: one item per variant)."""

    items: list[Item]

    @property
    def paths(self) -> list[str]:
        """The local paths to read, in order (failed inputs left out)."""
        return [i.path for i in self.items if i.path is not None]

    @property
    def listed(self) -> list[str]:
        """One name per record to come, in order: the local path, or the input as given when it failed
        (what a run counts; :class:`Source` reads only :attr:`paths`)."""
        return [i.path if i.path is not None else i.given for i in self.items]

    @property
    def origins(self) -> dict[str, Origin]:
        return {i.path: i.origin for i in self.items if i.path is not None and i.origin is not None}

    def failures(self) -> list[InputError]:
        return [i.error for i in self.items if i.error is not None]

    def renamed(self, records: Iterable[Any]) -> Iterator[Any]:
        """``records`` (score or answer records) with a local copy's name replaced by the input as given
        (``path``, ``error``, ``warnings``), ``origin`` set, and the copy's ``input.mtime`` dropped."""
        origins = self.origins
        for record in records:
            origin = origins.get(record.path)
            if origin is not None:
                tmp = record.path
                named_as_given(record, origin.given)
                record.origin = origin.to_dict()
                data = getattr(record, "data", None)  # a --server record prints the server's JSON as is
                if isinstance(data, dict):
                    data.update(_replaced(data, tmp, origin.given), origin=record.origin)
                    if isinstance(data.get("input"), dict):
                        data["input"].pop("mtime", None)
            yield record

    def with_failures(self, records: Iterable[Any], make_error) -> Iterator[Any]:
        """``records`` (one per local path, in order) with each failed input's error record
        (``make_error(InputError)``) in its place."""
        it = iter(self.renamed(records))
        for item in self.items:
            if item.error is not None:
                yield make_error(item.error)
                continue
            record = next(it, None)
            if record is None:  # the source stopped early (interrupted): nothing more to name
                return
            yield record
        yield from it


def named_as_given(record: Any, given: str) -> Any:
    """``record`` (a score or answer record of a local copy) naming ``given`` instead of the copy in ``path``,
    ``error`` and ``warnings``, without the copy's ``input.mtime`` (it says nothing about the input)."""
    copy, record.path = record.path, given
    if record.error:
        record.error = record.error.replace(copy, given)
    record.warnings = [w.replace(copy, given) for w in record.warnings]
    if isinstance(getattr(record, "input", None), dict):
        record.input.pop("mtime", None)
    return record


def _replaced(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _replaced(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, old, new) for v in value]
    return value


class Source:
    """A scoring source (``jobs/score_run.ScoringSource``) over materialized inputs: records and window rows
    name each input as given; an input that could not be made local is its error record."""

    def __init__(self, source, inputs: Materialized):
        self.source, self.inputs = source, inputs

    def records(self, paths: list[str], on_window) -> Iterator[Any]:
        from ..records.results import error_score_record

        origins = self.inputs.origins

        def each_window(path, entry, stat):
            origin = origins.get(path)
            if origin is None:
                return on_window(path, entry, stat)
            stat = {k: v for k, v in stat.items() if k != "mtime"}  # the copy's mtime is not the input's
            on_window(origin.given, entry, stat)

        def make_error(exc: InputError):
            record = error_score_record(exc.path, exc.code, exc.one_line())
            record.origin = {"given": exc.path, "kind": input_kind(exc.path).value}
            return record

        local = self.inputs.paths  # ``paths`` (:attr:`Materialized.listed`) also names the failed inputs
        inner = self.source.records(local, each_window) if local else iter(())
        yield from self.inputs.with_failures(inner, make_error)

    def thumbnails(self):
        return self.source.thumbnails()


@contextlib.contextmanager
def materialized(
    given: list[str], *, variant: str | None = None, stdin: BinaryIO | None = None
) -> Iterator[Materialized]:
    """Local files for ``given``: plain paths unchanged; ``-`` spooled from ``stdin`` (default
    ``sys.stdin.buffer``; inputs/stdin.py rules); a URL downloaded (inputs/http.py); a manifest's chosen
    variant(s) (``variant``: inputs/manifest.py :func:`~vqa2cli.inputs.manifest.check_variant`) joined.
    Raises UsageError for ``-`` twice, stdin on a terminal, a bad ``--variant`` or a bad limit variable;
    an input that cannot be read is its item's ``error``. Temporary files are removed on exit."""
    from .http import Limits
    from .manifest import check_variant

    selector = check_variant(variant)
    kinds = [input_kind(g) for g in given]
    if kinds.count(InputKind.STDIN) > 1:
        from ..errors import UsageError

        raise UsageError("- (stdin) is given more than once", "a pipe can be read once: give - once")
    limits = Limits.from_env() if any(k not in (InputKind.FILE, InputKind.STDIN) for k in kinds) else None
    temps: list[str] = []
    try:
        items: list[Item] = []
        for name, kind in zip(given, kinds):
            if kind is InputKind.FILE:
                items.append(Item(name, name))
                continue
            try:
                items.extend(_make_local(name, kind, selector, limits, stdin, temps))
            except InputError as exc:  # named as given: a manifest's failing segment is named in the cause
                items.append(Item(name, None, error=_as_input(exc, shown(name))))
        for item in items:
            if item.path is not None and item.origin is not None:
                _COPIES[item.path] = item.origin.given
        yield Materialized(items)
    finally:
        for path in temps:
            _COPIES.pop(path, None)
            with contextlib.suppress(OSError):
                os.unlink(path)


def _as_input(exc: InputError, name: str) -> InputError:
    """``exc`` naming ``name`` (the input as shown) when it named something the input referenced."""
    if exc.path == name:
        return exc
    renamed = InputError(name, f"{exc.path}: {exc.detail}", exc.fix)
    renamed.__class__ = type(exc)  # the same kind and code (network_error, manifest_error, ...)
    return renamed


def _temp(temps: list[str], kind: str, suffix: str) -> tuple[int, str]:
    fd, path = tempfile.mkstemp(prefix=f"vqa2-{kind}-", suffix=suffix)
    temps.append(path)
    _COPIES[path] = ""
    return fd, path


def _make_local(name, kind: InputKind, selector: str, limits, stdin, temps: list[str]) -> list[Item]:
    if kind is InputKind.STDIN:
        return [_from_stdin(stdin, temps)]
    if kind is InputKind.URL:
        from .http import download

        fd, path = _temp(temps, "url", _suffix(name))
        with os.fdopen(fd, "wb") as dest:
            _, ident, _ = download(name, dest, limits)
        return [Item(name, path, Origin(shown(name), kind.value, identity=ident.to_dict()))]
    from .manifest import Reader, choose, list_variants, materialize_variant

    reader = Reader(name, limits)
    variants, ident = list_variants(reader)
    out = []
    for chosen in choose(variants, selector, reader.name):
        fd, path = _temp(temps, kind.value, ".mp4" if kind is InputKind.DASH else ".video")
        with os.fdopen(fd, "wb") as dest:
            materialize_variant(reader, chosen, dest)
        origin = Origin(reader.name, kind.value, chosen.describe(), ident.to_dict() if reader.remote else {})
        out.append(Item(name, path, origin))
    return out


def _from_stdin(stdin, temps: list[str]) -> Item:
    from ..errors import EmptyFileError, UsageError
    from .given import STDIN
    from .stdin import max_bytes, spool

    stream = stdin if stdin is not None else sys.stdin.buffer
    if stdin is None and sys.stdin.isatty():
        raise UsageError(
            "- reads a video from stdin, but stdin is a terminal",
            "pipe a video in: ffmpeg -i in.mp4 -c copy -f matroska - | vqa2 score -",
        )
    fd, path = _temp(temps, "stdin", ".video")
    with os.fdopen(fd, "wb") as dest:
        size = spool(stream, dest, max_bytes())
    if size == 0:
        raise EmptyFileError(
            STDIN,
            "stdin was empty (the pipe closed before any byte)",
            "check the command that writes the pipe",
        )
    return Item(STDIN, path, Origin(STDIN, InputKind.STDIN.value))


def _suffix(url: str) -> str:
    """The URL path's extension (a format hint for FFmpeg's probe), else ``.video``."""
    from urllib.parse import urlsplit

    ext = os.path.splitext(urlsplit(url).path)[1]
    return ext if 1 < len(ext) <= 6 and ext[1:].isalnum() else ".video"


class LocalCopy:
    """One batch input made local in a decode worker (:func:`local_copy`): ``path`` to read, ``origin``;
    :meth:`rename` names the record as given, :meth:`close` deletes the copy (after the row is written)."""

    def __init__(self, given: str, variant: str | None):
        self.given, self.stack = given, contextlib.ExitStack()
        inputs = self.stack.enter_context(materialized([given], variant=variant))
        self.inputs = inputs
        try:
            (item,) = inputs.items
        except ValueError:
            self.close()
            from ..errors import UsageError

            raise UsageError(
                "batch reads one variant per manifest", "give --variant N, HEIGHTp, highest or lowest"
            ) from None
        if item.error is not None:
            self.close()
            raise item.error
        self.path: str = item.path or given

    def rename(self, record: Any) -> Any:
        (out,) = self.inputs.renamed([record])
        return out

    def close(self) -> None:
        self.stack.close()


def local_copy(given: str, variant: str | None = None) -> LocalCopy | None:
    """None for a local file (read in place); else the input made local (raises its InputError)."""
    return None if input_kind(given) is InputKind.FILE else LocalCopy(given, variant)


def as_given(value: Any) -> Any:
    """``value`` (a string, or dicts/lists/dataclasses of them: a compare report) with every live copy's
    path replaced by the input as shown; anything else unchanged."""
    import dataclasses

    if isinstance(value, str):
        for tmp, given in _COPIES.items():
            if given and tmp in value:
                value = value.replace(tmp, given)
        return value
    if isinstance(value, dict):
        return {as_given(k): as_given(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(as_given(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            object.__setattr__(value, f.name, as_given(getattr(value, f.name)))
    return value


def command_inputs(
    given: list[str], variant: str | None = None, *, label_variants: bool = False
) -> list[str]:
    """For a command that needs every input (``compare``): the local paths of ``given``, the copies removed
    when the command's click context closes. ``label_variants``: each variant's copy is shown as
    ``GIVEN [variant N: HEIGHTp]`` (the renditions of one manifest as a ladder), not as the manifest.
    Raises the first input's InputError (exit 3: a comparison needs every file), UsageError as
    :func:`materialized`."""
    import click

    stack = contextlib.ExitStack()
    inputs = stack.enter_context(materialized(given, variant=variant))
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(stack.close)
    failures = inputs.failures()
    if failures:
        stack.close()
        raise failures[0]
    for item in inputs.items if label_variants else ():
        if item.path is not None and item.origin is not None and "variant" in item.origin.variant:
            v = item.origin.variant
            _COPIES[item.path] = f"{item.origin.given} [variant {v['variant']}: {v.get('height', '?')}p]"
    return inputs.paths


def _remove_leftovers() -> None:  # copies whose run was interrupted before their block ended
    for path in list(_COPIES):
        with contextlib.suppress(OSError):
            os.unlink(path)


atexit.register(_remove_leftovers)


class Answers:
    """An asking source (``jobs/ask_run.AskingSource``) over one materialized input: asked about its local
    copy, answers and errors name it as given. ``path`` passed to :meth:`answers` is ignored for the
    input's own (the command asks about one input)."""

    def __init__(self, source, inputs: Materialized):
        self.source, self.inputs = source, inputs

    @property
    def warnings(self) -> list[str]:
        return [as_given(w) for w in self.source.warnings]

    def answers(self, path: str, questions: list[str]) -> Iterator[Any]:
        import dataclasses

        (item,) = self.inputs.items
        if item.error is not None:
            raise item.error
        assert item.path is not None
        try:
            for pending in self.source.answers(item.path, questions):
                yield dataclasses.replace(pending, produce=self._renaming(pending.produce))
        except InputError as exc:
            exc.path, exc.detail = as_given(exc.path), as_given(exc.detail)
            raise

    def _renaming(self, produce):
        def renamed(on_text):
            (record,) = self.inputs.renamed([produce(on_text)])
            return record

        return renamed
