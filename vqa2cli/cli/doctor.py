"""`vqa2 doctor`: versions, devices, memory, bitsandbytes, the HF cache, the quantized-weights cache and a
memory verdict per cached model.

The report a user attaches to a bug (as ``hf env`` or ``yolo checks``). It never contacts the Hub and never
reads weights: the per-model verdict comes from the shard headers (modeling/memory.py), or, for weights not
downloaded, from the shapes the model card declares (modeling/architectures.py). ``--format json``
prints one object, schema ``vqa2.doctor/1`` (docs/commands.md "vqa2 doctor").
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Annotated, Any

import typer

from .. import __version__
from ..config import REPORT_FORMATS
from .options import ReportFormatOpt, check_format

DOCTOR_SCHEMA = "vqa2.doctor/1"
PACKAGES = (
    "torch",
    "transformers",
    "av",
    "bitsandbytes",
    "accelerate",
    "safetensors",
    "huggingface_hub",
    "tokenizers",
    "pytorchvideo",
)

EXAMPLES = """Examples:

  vqa2 doctor

  vqa2 doctor --format json > doctor.json     # attach to a bug report

  vqa2 doctor --device cpu                    # the verdicts for the CPU even when a GPU is present

  vqa2 doctor --model assistant               # will it fit here, in which precision? (before any download)

The quantized-weights cache entries are listed with their size; delete an entry's folder to reclaim it.

Verdicts assume a 10-second 30 fps clip; `vqa2 score` re-checks with the real clips before loading.
Models not downloaded are judged from the size and shapes their card declares, without the network.
The report is the result: a missing GPU or package is reported, not an error."""


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def versions() -> dict[str, Any]:
    """Installed versions (None: not installed) and the FFmpeg libraries PyAV was built against."""
    out: dict[str, Any] = {"vqa2": __version__, "python": platform.python_version()}
    out.update({name: _version(name) for name in PACKAGES})
    try:
        import av

        out["ffmpeg"] = {lib: ".".join(map(str, v)) for lib, v in sorted(av.library_versions.items())}
    except Exception as exc:  # PyAV missing or broken: say so in the report
        out["ffmpeg"] = f"unavailable: {type(exc).__name__}: {exc}"
    return out


def system() -> dict[str, Any]:
    import torch

    from ..modeling.memory import GB, available_memory, system_ram
    from ..modeling.precision import cpu_has_bf16

    _real, total = system_ram()
    avail = available_memory(torch.device("cpu"))[
        0
    ]  # VQA2_FAKE_AVAILABLE_MEMORY_GB here too, as in the verdicts
    return {
        "os": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_bf16": cpu_has_bf16(),
        "ram_total_gb": _gb(total, GB),
        "ram_available_gb": _gb(avail, GB),
    }


def _gb(value: int | None, unit: float) -> float | None:
    return None if value is None else round(value / unit, 2)


def cuda() -> dict[str, Any]:
    import torch

    from ..modeling.memory import GB

    if not torch.cuda.is_available():
        return {"available": False, "version": torch.version.cuda, "devices": []}
    devices = []
    for i in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(i)
        props = torch.cuda.get_device_properties(i)
        devices.append(
            {
                "index": i,
                "name": props.name,
                "capability": f"{props.major}.{props.minor}",
                "free_gb": _gb(free, GB),
                "total_gb": _gb(total, GB),
            }
        )
    return {"available": True, "version": torch.version.cuda, "devices": devices}


def bitsandbytes(device_names: list[str]) -> dict[str, Any]:
    """Per device: does a tiny NF4 quantize run (``works``) and, if not, the one-line reason."""
    from ..errors import QuantizationUnavailableError
    from ..modeling.quantization import check_bitsandbytes

    out = {}
    for name in device_names:
        try:
            check_bitsandbytes("4bit", name.split(":")[0])
            out[name] = {"works": True, "error": None}
        except QuantizationUnavailableError as exc:
            out[name] = {"works": False, "error": exc.message}
    return out


def hub() -> dict[str, Any]:
    from huggingface_hub import constants

    from ..modeling.hub import hub_offline

    return {
        "cache": str(constants.HF_HUB_CACHE),
        "offline": hub_offline(),
        "endpoint": constants.ENDPOINT,
        "token_set": bool(os.environ.get("HF_TOKEN")),
        "quant_cache": quant_cache(),
    }


def quant_cache() -> dict[str, Any]:
    """The quantized-weights cache (modeling/quant_cache.py): its folder, total size and each entry."""
    from ..modeling import quant_cache as qc
    from ..modeling.memory import GB

    entries = qc.list_entries()
    return {
        "folder": str(qc.cache_root()),
        "total_gb": round(sum(e.size_bytes for e in entries) / GB, 2),
        "entries": [
            {
                "key": e.key,
                "quant": e.quant,
                "source": e.source,
                "size_gb": round(e.size_bytes / GB, 2),
                "size_bytes": e.size_bytes,
                "current": e.current,
                "created": e.created,
            }
            for e in entries
        ],
    }


def models(device, reference: str | None = None) -> list[dict[str, Any]]:
    """Every model card (or only ``reference``: ``--model`` NAME, folder or Hub id) with the preflight verdict
    on ``device``: from the shard headers when the weights are local (``source: shards``), else from the
    card's declared checkpoint (``source: card``, modeling/architectures.py): no download, no network."""
    from ..registry import ModelRef, list_cards, resolve_reference

    if reference is not None:
        return [model_row(reference, resolve_reference(reference, "score"), device)]
    return [
        model_row(card.name, ModelRef(card, card.repo, card.revision, None), device) for card in list_cards()
    ]


def model_row(name: str, ref, device) -> dict[str, Any]:
    """One model's row: where its weights are, their declared size, and the verdict."""
    from ..config import merge_layers
    from ..errors import Vqa2Error
    from ..modeling.architectures import declared, declared_verdict
    from ..modeling.hub import cached_folder
    from ..modeling.loading import read_config
    from ..modeling.memory import read_tensor_specs
    from ..modeling.precision import preflight_verdict

    card = ref.card
    folder = cached_folder(ref)
    published = card is not None and ref.local_dir is None and ref.repo == card.repo  # the card's own weights
    checkpoint = card.checkpoint if published else {}
    row: dict[str, Any] = {
        "name": name,
        "repo": ref.repo,
        "revision": ref.revision,
        "cached": folder is not None,
        "path": str(folder) if folder else None,
        "size_bytes": checkpoint.get("size_bytes"),
        "parameters": checkpoint.get("parameters"),
        "preflight": None,
        "error": None,
    }
    try:
        settings = merge_layers(dict(card.layer) if card is not None else None)
        if folder is not None:
            config = read_config(folder, settings.model.attn_implementation)
            row["preflight"] = {
                **preflight_verdict(read_tensor_specs(folder), config, settings, device),
                "source": "shards",
            }
        elif published and declared(card) is not None:
            row["preflight"] = declared_verdict(card, settings, device)
    except Vqa2Error as exc:
        row["error"] = exc.one_line()
    return row


def build_report(device_name: str, reference: str | None = None) -> dict[str, Any]:
    """The whole report as one JSON-able mapping (schema :data:`DOCTOR_SCHEMA`); ``reference``: only that
    model's row (``--model``)."""
    from ..modeling.loading import resolve_device

    device = resolve_device(device_name)
    gpu = cuda()
    names = ["cpu"] + [f"cuda:{d['index']}" for d in gpu["devices"]]
    return {
        "schema": DOCTOR_SCHEMA,
        "versions": versions(),
        "system": system(),
        "cuda": gpu,
        "bitsandbytes": bitsandbytes(names),
        "hub": hub(),
        "device": str(device),
        **_models_and_explain(device, reference),
    }


def _models_and_explain(device, reference) -> dict[str, Any]:
    """``models`` and ``explain`` (score --explain: the scorer, then the assistant, never both at once)."""
    from ..jobs.explain_assistant import doctor_verdict

    rows = models(device, reference)
    return {"models": rows, "explain": doctor_verdict(rows)}


def doctor(
    fmt: ReportFormatOpt = "table",
    device: Annotated[
        str, typer.Option("--device", metavar="auto|cuda|cpu|mps", help="Device the model verdicts are for.")
    ] = "auto",
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            metavar="NAME",
            help="Only this model (card name, Hub id or folder): does it fit, in which precision; weights not "
            "downloaded are judged from the card's declared checkpoint, offline.",
        ),
    ] = None,
) -> None:
    """Check the installation: versions, devices, memory, bitsandbytes, the HF cache, what fits."""
    from ..output.console import get_console
    from ..output.library_logs import route_library_messages
    from ..output.render import make_writer
    from ..records.reports import DoctorRecord

    check_format(fmt, REPORT_FORMATS)
    route_library_messages(get_console())  # bitsandbytes' import-time log lines (output/library_logs.py)
    writer = make_writer(fmt, sys.stdout, "doctor")
    writer.write(DoctorRecord(build_report(device, model)))
    writer.close()


def register(app: typer.Typer) -> None:
    app.command("doctor", epilog=EXAMPLES)(doctor)
