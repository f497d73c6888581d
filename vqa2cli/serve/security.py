"""The server's security rules: which binds need a token, bearer-token checks, and path confinement.

* Loopback binds (``127.0.0.0/8``, ``::1``, ``localhost``) may run without a token; any other bind
  (``0.0.0.0``, a LAN address, a host name) requires ``--token-file``.
* The token is compared in constant time (:func:`hmac.compare_digest`).
* ``{"path": ...}`` requests are confined to the ``--allow-root`` folders after resolving symlinks:
  ``..`` components, NUL bytes, paths resolving outside every root, and anything that is not a regular
  file (devices such as ``/dev/zero``, FIFOs, sockets, folders) are refused; so are ``-`` and URLs
  (``scheme:...``): the server never reads a pipe or fetches a URL for a request.
* The check holds for what is read, not for a name (:func:`open_confined`): the file is opened once
  (``O_NOFOLLOW`` on its resolved path, ``O_NONBLOCK`` so a FIFO swapped in cannot hang the open), then the
  *descriptor* is verified: ``fstat`` says a regular file, and the path the kernel gives for the open file
  (``/proc/self/fd/N``) lies inside a root and names the same device and inode. Everything after reads that
  descriptor (:mod:`vqa2cli.video.source`): probe, stat, every decode pass and the record's ``input``. A file
  system changed between the request and the decode (a symlink or folder swapped, a file renamed or
  replaced) can make the request fail, never make the server read a file outside the roots.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import stat
from pathlib import Path

from ..errors import UsageError

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


class Refused(Exception):
    """A request refused by a security rule: ``status`` (HTTP) and a one-line ``message``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 (with or without brackets) and the usual loopback host names."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:  # any other host name may resolve anywhere: not loopback
        return False


def read_token(path: str | Path | None, host: str) -> str | None:
    """The bearer token from ``--token-file`` (stripped); refuses a non-loopback bind without one.

    Raises UsageError (exit 2) for a missing/empty/too-short token file or a public bind without one."""
    if path is None:
        if not is_loopback(host):
            raise UsageError(
                f"--host {host} is not a loopback address and no --token-file was given",
                "pass --token-file FILE (a bearer token clients send), or bind 127.0.0.1",
            )
        return None
    p = Path(path)
    if not p.is_file():
        raise UsageError(
            f"{p}: token file not found",
            "write a random token to it, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))' > FILE`",
        )
    token = p.read_text(encoding="utf-8").strip()
    if len(token) < 16 or any(c.isspace() for c in token):
        raise UsageError(
            f"{p}: the token must be at least 16 characters without spaces",
            "use e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`",
        )
    return token


def check_bearer(header: str | None, token: str | None) -> None:
    """Raise Refused(401) unless ``Authorization: Bearer <token>`` matches (constant-time)."""
    if token is None:
        return
    if not header:
        raise Refused(401, "unauthorized", "missing bearer token (send Authorization: Bearer TOKEN)")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Refused(401, "unauthorized", "wrong bearer token")


def resolve_roots(roots: list[str | Path]) -> list[Path]:
    """The ``--allow-root`` folders, symlinks resolved; UsageError for one that is not a folder."""
    out = []
    for root in roots:
        p = Path(root).expanduser()
        if not p.is_dir():
            raise UsageError(f"--allow-root {root}: not a folder", "name an existing folder of videos")
        out.append(Path(os.path.realpath(p)))
    return out


def open_confined(raw: str, roots: list[Path]):
    """Check ``raw`` like :func:`confine`, open it once and verify the descriptor (module doc); returns the
    :class:`~vqa2cli.video.source.PinnedFile` every later read goes through (``name``: the path as the client
    wrote it, made absolute; a file missing at open time stays missing). Raises Refused."""
    from ..video import source

    shown = confine(raw, roots)
    real = os.path.realpath(shown)
    flags = (
        os.O_RDONLY
        | os.O_NONBLOCK
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_NOCTTY", 0)
    )
    try:
        fd = os.open(real, flags)
    except FileNotFoundError:
        return source.pin_missing(shown)
    except OSError as exc:  # ELOOP: the last component became a symlink after the check
        raise Refused(403, "forbidden", f"{raw}: cannot be opened safely ({exc.strerror})") from exc
    try:
        _verify_descriptor(fd, raw, roots)
    except BaseException:
        os.close(fd)
        raise
    return source.pin(fd, shown)


def _verify_descriptor(fd: int, raw: str, roots: list[Path]) -> None:
    """Refused unless ``fd`` is a regular file whose kernel-reported path lies under a root and still names
    that device and inode."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise Refused(403, "forbidden", f"{raw}: not a regular file (devices, FIFOs and folders are refused)")
    proc = f"/proc/self/fd/{fd}"
    opened = os.readlink(proc) if os.path.islink(proc) else None
    if opened is None:  # no /proc: the opened inode must be what the resolved name names now
        opened = os.path.realpath(raw if os.path.isabs(raw) else roots[0] / raw)
    try:
        now = os.stat(opened)
    except OSError:
        now = None
    inside = any(Path(opened) == r or r in Path(opened).parents for r in roots)
    if not inside or now is None or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        raise Refused(
            403, "forbidden", f"{raw}: outside the allowed roots (the file changed while it was opened)"
        )


# A request's path that names a pipe or a URL (``-``, ``http://...``, FFmpeg's ``pipe:``/``concat:``...): refused
# before anything opens it, so a request can never make the server read its stdin or reach the network.
NOT_A_FILE = re.compile(r"^(-|[A-Za-z][A-Za-z0-9+.-]+:.*)$", re.S)


def confine(raw: str, roots: list[Path]) -> str:
    """Check a requested path; return it as an absolute path (relative paths are taken under the first root).

    The returned path is what the scorer opens, so the record names the file as the client wrote it
    (made absolute), exactly as ``vqa2 score`` would. A missing file passes (it becomes a
    ``file_missing`` error record, like the CLI's); everything else listed in the module doc raises Refused."""
    if not roots:
        raise Refused(
            403,
            "forbidden",
            "path requests are disabled on this server (start it with --allow-root DIR, or upload the file)",
        )
    if not raw or "\x00" in raw:
        raise Refused(422, "usage", "'path' must be a non-empty file path")
    if NOT_A_FILE.match(raw):
        raise Refused(
            403,
            "forbidden",
            f"{raw}: not a file path: the server reads only files under --allow-root, "
            "never a pipe or a URL (a file whose name starts with 'scheme:' or is '-' can be sent as ./NAME)",
        )
    p = Path(raw)
    if ".." in p.parts:
        raise Refused(403, "forbidden", f"{raw}: '..' is not allowed in paths")
    absolute = p if p.is_absolute() else roots[0] / p
    real = Path(os.path.realpath(absolute))
    if not any(real == r or r in real.parents for r in roots):
        raise Refused(403, "forbidden", f"{raw}: outside the allowed roots")
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return str(absolute)
    except OSError as exc:
        raise Refused(403, "forbidden", f"{raw}: cannot be read ({exc.strerror})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise Refused(403, "forbidden", f"{raw}: not a regular file (devices, FIFOs and folders are refused)")
    return str(absolute)
