"""Weights from the Hugging Face Hub through huggingface-hub's own cache (``fetch_weights(ref) → Path``).

The library does the environment handling: ``HF_HOME`` / ``HF_HUB_CACHE`` (where), ``HF_HUB_OFFLINE``
(never call out), ``HF_ENDPOINT`` (mirror), ``HF_TOKEN`` (gated repos). Progress bars are
huggingface-hub's tqdm bars, on stderr. Only safetensors, JSON and tokenizer files are fetched:
pickled ``*.bin``/``*.pt``/``*.pth`` files in a repo are never downloaded.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import HubError, ModelNotFoundError
from ..registry import ModelRef

ALLOW_PATTERNS = ["*.safetensors", "*.json", "*.txt", "*.model", "*.tiktoken", "*.jinja"]
IGNORE_PATTERNS = ["*.bin", "*.pt", "*.pth", "*.pkl", "*.pickle", "*.ckpt", "*.h5", "*.msgpack", "*.onnx"]

OFFLINE_FIX = (
    "to work offline: run `vqa2 models pull {name}` on a connected machine, copy its Hugging Face "
    "cache (~/.cache/huggingface, or $HF_HOME) here and set HF_HUB_OFFLINE=1, or pass a local "
    "folder with --model /path/to/checkpoint"
)


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set, as huggingface-hub reads it."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _name(ref: ModelRef) -> str:
    return ref.card.name if ref.card is not None and ref.card.repo == ref.repo else ref.repo


def fetch_weights(ref: ModelRef, *, offline: bool | None = None, cache_only: bool = False) -> Path:
    """The local folder holding ``ref``'s weights, downloading into the HF cache when needed.

    ``offline=True`` (the ``--offline`` flag) never contacts the Hub; ``None``/``False`` follow
    ``HF_HUB_OFFLINE``; ``cache_only=True`` is a cache look-up (``vqa2 models path``): no network either,
    and a miss is reported as not cached (with ``vqa2 models pull NAME``), not as offline mode.
    Raises :class:`HubError` (with how to work offline) when the weights are neither reachable nor cached.
    """
    if ref.local_dir is not None:
        if not Path(ref.local_dir).is_dir():
            raise ModelNotFoundError(
                f"{ref.local_dir}: model folder not found", "check the path given to --model"
            )
        return Path(ref.local_dir)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        IncompleteSnapshotError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    local_only = bool(offline) or cache_only or hub_offline()
    where = f"{ref.repo}@{ref.revision}"
    try:
        folder = snapshot_download(
            ref.repo,
            revision=ref.revision,
            allow_patterns=ALLOW_PATTERNS,
            ignore_patterns=IGNORE_PATTERNS,
            local_files_only=local_only,
        )
    except IncompleteSnapshotError as exc:
        raise HubError(
            f"{where}: the cached copy is incomplete (an interrupted download)",
            f"run `vqa2 models pull {_name(ref)}` with network access to finish it",
        ) from exc
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        raise _not_cached(ref, where, offline=bool(offline), cache_only=cache_only) from exc
    except RevisionNotFoundError as exc:
        raise HubError(
            f"{where}: revision '{ref.revision}' not found on the Hub",
            "check the revision after '@' (a branch, tag or commit SHA)",
        ) from exc
    except GatedRepoError as exc:
        raise HubError(
            f"{where}: the repo is gated",
            "accept its terms on huggingface.co and run `hf auth login` or set HF_TOKEN",
        ) from exc
    except RepositoryNotFoundError as exc:
        raise HubError(
            f"{where}: repo not found on the Hub (or private)",
            "check the repo id, or log in with `hf auth login` / HF_TOKEN",
        ) from exc
    except (HfHubHTTPError, OSError) as exc:  # connection reset, disk full, incomplete snapshot...
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise HubError(f"{where}: download failed: {first}", OFFLINE_FIX.format(name=_name(ref))) from exc
    return Path(folder)


def _not_cached(ref: ModelRef, where: str, *, offline: bool, cache_only: bool) -> HubError:
    """The miss, naming its real cause: --offline, HF_HUB_OFFLINE, a plain cache look-up, or no network."""
    if hub_offline() or offline:
        why = "HF_HUB_OFFLINE is set" if hub_offline() else "--offline is set"
        return HubError(
            f"{where}: not in the local Hugging Face cache and offline mode is on ({why})",
            OFFLINE_FIX.format(name=_name(ref)),
        )
    if cache_only:
        return HubError(
            f"{where}: not in the local Hugging Face cache",
            f"run `vqa2 models pull {_name(ref)}` to download it",
        )
    return HubError(
        f"{where}: not in the local Hugging Face cache and the Hub cannot be reached",
        OFFLINE_FIX.format(name=_name(ref)),
    )


def cached_folder(ref: ModelRef) -> Path | None:
    """The cached snapshot folder for ``ref`` without any network access, or None when not cached."""
    if ref.local_dir is not None:
        return Path(ref.local_dir) if Path(ref.local_dir).is_dir() else None
    try:
        folder = fetch_weights(ref, cache_only=True)
    except HubError:
        return None
    return folder if any(folder.glob("*.safetensors")) else None
