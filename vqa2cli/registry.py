"""Model cards: ``models/*.toml`` → :class:`ModelCard`; list, look up, suggest close names.

A card is a config layer (sections ``model``, ``video``, ``scoring``, ``generation``, ``runtime``)
that sits between the defaults and the user's config file. A local checkpoint folder may carry its
own card as ``vqa2-card.toml`` (``vqa2 train`` writes one), which then wins over the command's default.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, ModelNotFoundError

if TYPE_CHECKING:
    from .config import Settings

CARD_FILE_IN_CHECKPOINT = "vqa2-card.toml"
DEFAULT_CARD_FOR_TASK = {"score": "ugc-scorer", "ask": "assistant"}


def cards_dir() -> Path:
    """Where the shipped cards live: package data in a wheel, ``models/`` in a checkout."""
    packaged = Path(__file__).with_name("model_cards")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class ModelCard:
    name: str
    path: Path
    layer: dict[str, Any]
    # the card's [checkpoint] section (not settings): architecture, parameters, size_bytes, dtype of the
    # published weights, so sizes and memory verdicts need no download (modeling/architectures.py)
    checkpoint: dict[str, Any] = field(default_factory=dict)

    @property
    def repo(self) -> str:
        return self.layer.get("model", {}).get("repo", "")

    @property
    def revision(self) -> str:
        return self.layer.get("model", {}).get("revision", "main")

    @property
    def task(self) -> str:
        return self.layer.get("model", {}).get("task", "score")

    @property
    def description(self) -> str:
        return self.layer.get("model", {}).get("description", "")


def toml_module():
    """``tomllib`` (Python 3.11+) or its backport ``tomli`` (3.10), imported when a TOML file is read."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib


def read_card(path: Path) -> ModelCard:
    tomllib = toml_module()
    try:
        layer = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read model card: {exc}") from exc
    name = layer.get("model", {}).get("name") or path.stem
    checkpoint = layer.pop("checkpoint", {})
    return ModelCard(
        name=name, path=path, layer=layer, checkpoint=checkpoint if isinstance(checkpoint, dict) else {}
    )


def list_cards() -> list[ModelCard]:
    return [read_card(p) for p in sorted(cards_dir().glob("*.toml"))]


def get_card(name: str) -> ModelCard:
    cards = {c.name: c for c in list_cards()}
    if name in cards:
        return cards[name]
    raise unknown_card(name, list(cards))


def unknown_card(name: str, known: list[str]) -> ModelNotFoundError:
    """The error for a card name that is not among ``known``, with a close-match suggestion."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'?" if close else f"known cards: {', '.join(sorted(known))}"
    return ModelNotFoundError(f"unknown model card '{name}'", hint)


def find_card_by_repo(repo: str) -> ModelCard | None:
    """The card for a Hub repo id. When several cards use the repo (a card and its presets, e.g.
    ``ugc-scorer`` and ``ugc-scorer-paper``), the one with the shortest name: the base card."""
    matches = [card for card in list_cards() if card.repo.lower() == repo.lower()]
    return min(matches, key=lambda card: (len(card.name), card.name)) if matches else None


def looks_like_repo_id(ref: str) -> bool:
    parts = ref.split("@", 1)[0].split("/")
    return len(parts) == 2 and all(parts) and not ref.startswith((".", "/", "~"))


@dataclass(frozen=True)
class ModelRef:
    """What ``--model`` resolved to, before any download: a card layer plus where the weights are."""

    card: ModelCard | None  # the card whose settings apply (None: defaults only)
    repo: str  # Hub repo id, or local folder path
    revision: str
    local_dir: Path | None  # set when the weights are a local folder


def resolve_reference(ref: str | None, task: str) -> ModelRef:
    """Map ``--model`` (card name, local folder, or ``org/name[@revision]``) to a :class:`ModelRef`.

    No network access happens here: the download is modeling.hub's job, after inputs are checked.
    """
    default = get_card(DEFAULT_CARD_FOR_TASK[task])
    if ref is None:
        return ModelRef(default, default.repo, default.revision, None)
    path = Path(ref).expanduser()
    if path.is_dir():
        own = path / CARD_FILE_IN_CHECKPOINT
        card = read_card(own) if own.is_file() else default
        return ModelRef(card, str(path), "local", path)
    if ref in {c.name for c in list_cards()}:
        card = get_card(ref)
        return ModelRef(card, card.repo, card.revision, None)
    if looks_like_repo_id(ref):
        repo, _, revision = ref.partition("@")
        card = find_card_by_repo(repo) or default
        return ModelRef(card, repo, revision or (card.revision if card.repo == repo else "main"), None)
    if ref.startswith((".", "/", "~")) or Path(ref).suffix:
        raise ModelNotFoundError(f"{ref}: model folder not found", "check the path given to --model")
    raise unknown_card(ref, [c.name for c in list_cards()])


def resolve_model(
    reference: str | None,
    task: str,
    *layers: Mapping[str, Any] | None,
    model_keys: Mapping[str, Any] | None = None,
) -> tuple[Settings, ModelRef]:
    """THE resolution of a model reference (card name, Hub id ``org/name[@rev]`` or local folder, None =
    the task's default card) into settings and where its weights are. Used by every command, the training
    run and the Python API; the weights themselves come from ``modeling.hub.fetch_weights(ref)`` (a local
    folder as is, a Hub id through the huggingface-hub cache).

    Settings precedence: defaults ← the card (a folder's own ``vqa2-card.toml``, else the card matching the
    Hub id, else the task's default card) with ``model.repo``/``revision`` pointing at the weights and
    ``model_keys`` applied ← ``layers`` in order (config file, flags). A folder without its own card is
    named by its path. No network access. Raises ModelNotFoundError (unknown card or missing folder),
    ConfigError (unknown keys, bad values).
    """
    from .config import merge_layers

    ref = resolve_reference(reference, task)
    card = dict(ref.card.layer) if ref.card else {}
    model = {**card.get("model", {}), "repo": ref.repo, "revision": ref.revision, **(model_keys or {})}
    if ref.local_dir is not None and (ref.card is None or ref.card.path.parent != ref.local_dir):
        model["name"] = str(reference)  # a folder without its own card: name it by its path
    return merge_layers({**card, "model": model}, *layers), ref
