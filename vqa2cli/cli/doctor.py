"""`vqa2 doctor`: versions, devices, memory, bitsandbytes, the HF cache, the quantized-weights cache and a
memory verdict per cached model.

The report a user attaches to a bug (as ``hf env`` or ``yolo checks``). It never contacts the Hub and never
reads weights: the per-model verdict comes from the shard headers (modeling/memory.py). ``--format json``
prints one object, schema ``vqa2.doctor/1`` (README "vqa2 doctor").
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Annotated, Any

import typer

from .. import __version__
from .options import check_format

DOCTOR_SCHEMA = "vqa2.doctor/1"
PACKAGES = ("torch", "transformers", "av", "bitsandbytes", "accelerate", "safetensors", "huggingface_hub",
            "tokenizers", "pytorchvideo")

EXAMPLES = """Examples:

  vqa2 doctor

  vqa2 doctor --format json > doctor.json     # attach to a bug report

  vqa2 doctor --device cpu                    # the verdicts for the CPU even when a GPU is present

The quantized-weights cache entries are listed with their size; delete an entry's folder to reclaim it.

Verdicts assume a 10-second 30 fps clip; `vqa2 score` re-checks with the real clips before loading.
Exit code: 0 (the report is the result)."""


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
    from ..modeling.memory import GB, system_ram
    from ..modeling.precision import cpu_has_bf16

    avail, total = system_ram()
    return {"os": platform.platform(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "cpu_bf16": cpu_has_bf16(), "ram_total_gb": _gb(total, GB), "ram_available_gb": _gb(avail, GB)}


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
        devices.append({"index": i, "name": props.name, "capability": f"{props.major}.{props.minor}",
                        "free_gb": _gb(free, GB), "total_gb": _gb(total, GB)})
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

    return {"cache": str(constants.HF_HUB_CACHE), "offline": hub_offline(),
            "endpoint": constants.ENDPOINT, "token_set": bool(os.environ.get("HF_TOKEN")),
            "quant_cache": quant_cache()}


def quant_cache() -> dict[str, Any]:
    """The quantized-weights cache (modeling/quant_cache.py): its folder, total size and each entry."""
    from ..modeling import quant_cache as qc
    from ..modeling.memory import GB

    entries = qc.list_entries()
    return {"folder": str(qc.cache_root()), "total_gb": round(sum(e.size_bytes for e in entries) / GB, 2),
            "entries": [{"key": e.key, "quant": e.quant, "source": e.source, "size_gb": round(e.size_bytes / GB, 2),
                         "size_bytes": e.size_bytes, "current": e.current, "created": e.created} for e in entries]}


def models(device) -> list[dict[str, Any]]:
    """Every model card: cached or not, and for cached ones the preflight verdict on ``device``."""
    from ..config import merge_layers
    from ..errors import Vqa2Error
    from ..modeling.hub import cached_folder
    from ..modeling.loading import read_config
    from ..modeling.memory import read_tensor_specs
    from ..modeling.precision import preflight_verdict
    from ..registry import ModelRef, list_cards

    rows = []
    for card in list_cards():
        folder = cached_folder(ModelRef(card, card.repo, card.revision, None))
        row: dict[str, Any] = {"name": card.name, "repo": card.repo, "revision": card.revision,
                               "cached": folder is not None, "path": str(folder) if folder else None,
                               "preflight": None, "error": None}
        if folder is not None:
            try:
                settings = merge_layers(dict(card.layer))
                config = read_config(folder, settings.model.attn_implementation)
                row["preflight"] = preflight_verdict(read_tensor_specs(folder), config, settings, device)
            except Vqa2Error as exc:
                row["error"] = exc.one_line()
        rows.append(row)
    return rows


def build_report(device_name: str) -> dict[str, Any]:
    """The whole report as one JSON-able mapping (schema :data:`DOCTOR_SCHEMA`)."""
    from ..modeling.loading import resolve_device

    device = resolve_device(device_name)
    gpu = cuda()
    names = ["cpu"] + [f"cuda:{d['index']}" for d in gpu["devices"]]
    return {"schema": DOCTOR_SCHEMA, "versions": versions(), "system": system(), "cuda": gpu,
            "bitsandbytes": bitsandbytes(names), "hub": hub(), "device": str(device), "models": models(device)}


def render(report: dict[str, Any]) -> str:
    """The report as aligned ``key: value`` lines, one block per section."""
    lines = []
    v = report["versions"]
    ffmpeg = v["ffmpeg"] if isinstance(v["ffmpeg"], str) else f"libavcodec {v['ffmpeg'].get('libavcodec', '?')}"
    lines.append("versions: " + ", ".join(f"{k} {v[k] or 'not installed'}" for k in ("vqa2", "python", *PACKAGES)))
    lines.append(f"ffmpeg (PyAV): {ffmpeg}")
    s = report["system"]
    lines.append(f"system: {s['os']}, {s['cpu_count']} CPUs, native bf16: {'yes' if s['cpu_bf16'] else 'no'}, "
                 f"RAM {s['ram_available_gb']} GB available of {s['ram_total_gb']} GB")
    gpu = report["cuda"]
    if not gpu["devices"]:
        lines.append(f"cuda: no GPU (torch CUDA build: {gpu['version'] or 'none'})")
    for d in gpu["devices"]:
        lines.append(f"cuda:{d['index']}: {d['name']} (sm {d['capability']}), {d['free_gb']} GB free of {d['total_gb']} GB")
    for name, state in report["bitsandbytes"].items():
        lines.append(f"bitsandbytes on {name}: " + ("works" if state["works"] else f"unusable: {state['error']}"))
    h = report["hub"]
    lines.append(f"hub cache: {h['cache']} (offline: {'yes' if h['offline'] else 'no'}, endpoint {h['endpoint']})")
    q = h["quant_cache"]
    lines.append(f"quantized-weights cache: {q['folder']} ({len(q['entries'])} "
                 f"entr{'y' if len(q['entries']) == 1 else 'ies'}, {q['total_gb']:g} GB)")
    for e in q["entries"]:
        stale = "" if e["current"] else " (stale: the source changed or is gone; delete the folder)"
        lines.append(f"  {e['key']}: {e['quant']} of {e['source']}, {e['size_gb']:g} GB, {e['created']}{stale}")
    lines.append(f"models (preflight on {report['device']}, 10 s 30 fps clip):")
    for m in report["models"]:
        if not m["cached"]:
            lines.append(f"  {m['name']}: not cached")
        elif m["error"]:
            lines.append(f"  {m['name']}: cached, cannot check: {m['error']}")
        else:
            p = m["preflight"]
            sizes = ", ".join(f"{q} {gb:g} GB" for q, gb in p["estimates_gb"].items())
            lines.append(f"  {m['name']}: {p['verdict']} ({sizes}; {p['available_gb']} GB {p['memory']} available)")
    return "\n".join(lines)


def doctor(
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="table|json", help="Output format on stdout.")] = "table",
    device: Annotated[str, typer.Option("--device", metavar="auto|cuda|cpu|mps",
                                        help="Device the model verdicts are for.")] = "auto",
) -> None:
    """Check the installation: versions, devices, memory, bitsandbytes, the HF cache, what fits."""
    import json

    check_format(fmt, ("table", "json"))
    report = build_report(device)
    typer.echo(json.dumps(report, indent=2) if fmt == "json" else render(report))
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command("doctor", epilog=EXAMPLES)(doctor)
