"""`vqa2 verify`: golden clips and drift — is this run the same as last month's, the paper's, the GPU's?"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..config import REPORT_FORMATS
from .options import (
    DeviceOpt,
    DtypeOpt,
    ModelOpt,
    OfflineOpt,
    QuantOpt,
    QuietOpt,
    ReportFormatOpt,
    VerboseOpt,
    check_format,
    start_console,
)

EXAMPLES = """Examples:

\b
  vqa2 verify --record golden.json clips/*.mp4 -m ugc-scorer     # store scores + everything that moves them
  vqa2 verify golden.json                                        # re-score here: exit 1 beyond tolerance
  vqa2 verify golden.json --dtype bf16 --tolerance 0.02          # would bf16 still pass our gate?
  vqa2 verify --precisions fp32,bf16,8bit,4bit clips/*.mp4       # Δ and rank agreement against the first
  vqa2 verify --card ugc-scorer                                  # the card's golden file, when it ships one

Default tolerance on max |Δ| (0-1 scale): 1e-6 for the same precision, device type and versions (bit-identical
at the records' 6 digits), 0.005 for the same precision elsewhere, and across precisions by the current one:
fp32 0.02, fp16 0.03, bf16 0.03, 8bit 0.05, 4bit 0.08 (initial values, not yet measured on the published
weights). Beyond the tolerance is the gate's exit code; a newer, corrupt or hand-edited golden file is a
usage error, a clip that can no longer be read an input error. See docs/calibration.md."""

GOLDEN_DIR_ENV = "VQA2_GOLDEN_DIR"  # where card golden files live (default: beside the model cards)


def card_golden(name: str) -> Path:
    """``<dir>/<card>.golden.json``: the folder of the model cards, or ``$VQA2_GOLDEN_DIR``."""
    from ..errors import UsageError
    from ..registry import cards_dir

    folder = Path(os.environ.get(GOLDEN_DIR_ENV) or cards_dir())
    path = folder / f"{name}.golden.json"
    if not path.is_file():
        raise UsageError(
            f"card {name!r} has no golden file yet (looked for {path})",
            "record one with vqa2 verify --record, or set VQA2_GOLDEN_DIR to its folder",
        )
    return path


def verify_command(
    args: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="GOLDEN | CLIP...",
            help="A golden file to verify, or the clips of --record/--precisions.",
            show_default=False,
        ),
    ] = None,
    record: Annotated[
        Path | None, typer.Option("--record", metavar="FILE", help="Score CLIPS and write this golden file.")
    ] = None,
    precisions: Annotated[
        str | None,
        typer.Option(
            "--precisions",
            metavar="LIST",
            help="Score CLIPS in each precision (fp32,fp16,bf16,8bit,4bit); compare with the first.",
        ),
    ] = None,
    card: Annotated[
        str | None, typer.Option("--card", metavar="NAME", help="Verify against the card's golden file.")
    ] = None,
    tolerance: Annotated[
        float | None,
        typer.Option(
            "--tolerance",
            metavar="X",
            help="Max |Δ| allowed (0-1 scale). [default: the one of the precisions, below]",
        ),
    ] = None,
    media_root: Annotated[
        Path | None,
        typer.Option(
            "--media-root",
            metavar="DIR",
            help="Folder the golden file's relative clip paths start from. [default: the golden file's folder]",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --record file.")
    ] = False,
    fmt: ReportFormatOpt = "table",
    model: ModelOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    quant: QuantOpt = None,
    offline: OfflineOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Score golden clips and compare: drift across runs, machines, versions and precisions."""
    from .. import verify as V
    from ..errors import ExitCode, UsageError

    console = start_console(quiet, verbose)
    check_format(fmt, REPORT_FORMATS)
    args = list(args or [])
    modes = [m for m, on in (("--record", record), ("--precisions", precisions), ("--card", card)) if on]
    if len(modes) > 1:
        raise UsageError(f"{' and '.join(modes)} cannot be combined", "run them one at a time")
    if tolerance is not None and tolerance < 0:
        raise UsageError(f"--tolerance must be >= 0, got {tolerance}")
    if record is not None:
        if not args:
            raise UsageError(
                "--record needs the clips to record", "vqa2 verify --record golden.json a.mp4 b.mp4"
            )
        if record.exists() and not overwrite:
            raise UsageError(f"{record} already exists", "add --overwrite to record it again")
        body = V.record_golden(
            args,
            str(record),
            model=model,
            dtype=dtype,
            quant=quant,
            device=device,
            card=model if model and "/" not in model and not Path(model).exists() else None,
            offline=offline,
        )
        console.info(f"golden file written to {record}")
    elif precisions is not None:
        if not args:
            raise UsageError(
                "--precisions needs the clips to score", "vqa2 verify --precisions fp32,bf16 a.mp4"
            )
        body = V.compare_precisions(
            args,
            [p.strip() for p in precisions.split(",") if p.strip()],
            model=model,
            device=device,
            tolerance=tolerance,
            offline=offline,
        )
    else:
        if card is not None and args or card is None and len(args) != 1:
            raise UsageError("give one golden file, or --card NAME alone", "vqa2 verify golden.json")
        path = card_golden(card) if card is not None else Path(args[0])
        body = V.verify_golden(
            path,
            model=model,
            dtype=dtype,
            quant=quant,
            device=device,
            tolerance=tolerance,
            media_root=str(media_root) if media_root else None,
            offline=offline,
        )
    _print(body, fmt)
    if body["unreadable"]:
        unread = {c["path"]: c.get("error") for r in body["runs"] for c in r["clips"] if c["current"] is None}
        for name, why in unread.items():
            console.error(f"{name}: {why or 'could not be read'}")
        console.error(f"{body['unreadable']} clip(s) could not be read")
        raise typer.Exit(int(ExitCode.INPUT))
    if not body["passed"]:
        worst = max(body["runs"], key=lambda r: r["max_abs_delta"] if r["tolerance"] is not None else -1)
        console.error(
            f"max |Δ| {worst['max_abs_delta']:.6g} is beyond the tolerance {worst['tolerance']:g} "
            f"({worst['precision']} vs {body['baseline']['precision']})"
        )
        raise typer.Exit(int(ExitCode.GATE_FAILED))
    raise typer.Exit(int(ExitCode.OK))


def _print(body, fmt: str) -> None:
    from ..output.render import make_writer
    from ..records.verify import VerifyRecord

    writer = make_writer(fmt, sys.stdout, "verify")
    writer.write(VerifyRecord(body))
    writer.close()


def register(app: typer.Typer) -> None:
    app.command("verify", epilog=EXAMPLES)(verify_command)
