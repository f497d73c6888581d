"""`vqa2 serve`: keep a model warm and score/answer over HTTP (FastAPI + uvicorn, the `serve` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from ..jobs.prefetch import DEFAULT_WORKERS_SHOWN, default_workers
from ..serve.limits import BODY_TIMEOUT_S, GRACE_S, HEADER_TIMEOUT_S
from ..video.decode_pool import DEFAULT_DECODE_PROCESSES
from .decode_opts import DecodeProcessesOpt
from .options import (
    ConfigOpt,
    DeviceOpt,
    DtypeOpt,
    ModelOpt,
    OfflineOpt,
    QuantCacheOpt,
    QuantOpt,
    QuietOpt,
    VerboseOpt,
    start_console,
)

EXAMPLES = """Examples:

  vqa2 serve --model ugc-scorer                       # http://127.0.0.1:8000, docs at /docs

  curl -F file=@clip.mp4 http://127.0.0.1:8000/v1/score

  vqa2 score encode.mp4 --fail-under 0.6 --server http://127.0.0.1:8000

  vqa2 serve --host 0.0.0.0 --token-file /run/secrets/vqa2-token --allow-root /data/encodes

  vqa2 serve --model ugc-scorer --assistant assistant --max-queue 64

One server holds one model on one device; run one per GPU and put a load balancer in front (readiness:
GET /readyz). A full queue answers 503 with Retry-After. SIGTERM (or Ctrl-C) stops accepting work,
answers the requests in flight that finish within --shutdown-grace, cuts the rest and exits 0. Clients
get --header-timeout seconds for their headers and may pause a body at most --body-timeout seconds
(408); every size limit is checked while the body arrives (docs/serving-security.md). A non-loopback
--host without --token-file is a usage error."""


def serve(
    model: ModelOpt = None,
    assistant: Annotated[
        str | None,
        typer.Option(
            "--assistant",
            metavar="MODEL",
            help="Also load an assistant model for POST /v1/ask (card, repo or folder).",
        ),
    ] = None,
    config: ConfigOpt = None,
    host: Annotated[
        str,
        typer.Option(
            "--host", metavar="ADDR", help="Address to bind; anything but loopback needs --token-file."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", metavar="N", help="TCP port (0 = any free port; the port is logged).")
    ] = 8000,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            metavar="FILE",
            help="File holding the bearer token clients must send (Authorization: Bearer ...).",
        ),
    ] = None,
    allow_root: Annotated[
        list[Path] | None,
        typer.Option(
            "--allow-root",
            metavar="DIR",
            help='Folder whose files may be scored by path ({"path": ...}); repeatable. Default: uploads only.',
        ),
    ] = None,
    max_queue: Annotated[
        int,
        typer.Option(
            "--max-queue",
            metavar="N",
            help="Most requests accepted and not yet answered; more get 503 + Retry-After.",
        ),
    ] = 16,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            metavar="N",
            help=f"Decode threads running ahead of the model. [default: {DEFAULT_WORKERS_SHOWN}]",
        ),
    ] = None,
    decode_processes: DecodeProcessesOpt = DEFAULT_DECODE_PROCESSES,
    max_upload_mb: Annotated[
        float,
        typer.Option("--max-upload-mb", metavar="MB", help="Largest upload accepted (MB = 10^6 bytes)."),
    ] = 2000.0,
    header_timeout: Annotated[
        float,
        typer.Option(
            "--header-timeout",
            metavar="S",
            help="Seconds a client has to send a request's line and headers; then the connection is closed.",
        ),
    ] = HEADER_TIMEOUT_S,
    body_timeout: Annotated[
        float,
        typer.Option(
            "--body-timeout",
            metavar="S",
            help="Longest pause in seconds between two chunks of a request body; then 408.",
        ),
    ] = BODY_TIMEOUT_S,
    shutdown_grace: Annotated[
        float,
        typer.Option(
            "--shutdown-grace",
            metavar="S",
            help="On SIGTERM, seconds the requests in flight get to finish; the rest are cut.",
        ),
    ] = GRACE_S,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    quant: QuantOpt = None,
    quant_cache: QuantCacheOpt = None,
    offline: OfflineOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Serve a warm model over HTTP: POST /v1/score and /v1/ask return the CLI's JSON records."""
    from ..serve.app import ServeConfig
    from ..serve.security import read_token, resolve_roots

    console = start_console(quiet, verbose)
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")
    if decode_processes < 0:
        raise UsageError("--decode-processes must be >= 0", "pass 0 (decode in the threads) or more")
    if max_queue < 1 or (workers is not None and workers < 1) or max_upload_mb <= 0:
        raise UsageError("--max-queue and --workers must be >= 1 and --max-upload-mb > 0")
    if not all(0 < t <= 86400 for t in (header_timeout, body_timeout, shutdown_grace)):
        raise UsageError(
            "--header-timeout, --body-timeout and --shutdown-grace must be seconds in (0, 86400]"
        )
    cfg = ServeConfig(
        model=model,
        assistant=assistant,
        config=config,
        token=read_token(token_file, host),
        runtime={
            "runtime__device": device,
            "runtime__dtype": dtype,
            "runtime__quant": quant,
            "runtime__quant_cache": quant_cache,
        },
        roots=resolve_roots(list(allow_root or [])),
        max_queue=max_queue,
        workers=workers or default_workers(),
        decode_processes=decode_processes,
        max_upload_bytes=int(max_upload_mb * 1e6),
        offline=offline,
        header_timeout_s=header_timeout,
        body_timeout_s=body_timeout,
        grace_s=shutdown_grace,
    )
    from ..serve.run import run_server

    raise typer.Exit(run_server(cfg, host, port, console, access_log=verbose))


def register(app: typer.Typer) -> None:
    app.command("serve", epilog=EXAMPLES)(serve)
