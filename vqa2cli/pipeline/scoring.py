"""Level-word logits → the paper's score (spec §5, §12).

score = Σ softmax(logits[level ids])ᵢ · weightᵢ with weights [1, 0.75, 0.5, 0.25, 0] (range 0–1).
The official scripts use weights [1, 0.8, 0.6, 0.4, 0.2], i.e. ``0.2 + 0.8 × score``; both rank videos
identically and every record carries the five probabilities, so any scale can be derived.
Level ids are looked up from the tokenizer by their words (with the real Qwen2 tokenizer: 1550, 1661,
6624, 7852, 3347) and must each be exactly one token.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class LevelScore:
    score: float
    probs: dict[str, float]  # level word without its leading space → probability, in card order
    level: str  # most likely level word


def level_token_ids(tokenizer, levels: tuple[str, ...]) -> list[int]:
    """One id per level word. Raises :class:`~vqa2cli.errors.ConfigError` (usage, exit 2: the config's
    level words do not fit this model) naming a word that is not a single token of ``tokenizer``."""
    ids = []
    for word in levels:
        pieces = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(pieces) != 1:
            raise ConfigError(
                f"config key 'scoring.levels': level word {word!r} is {len(pieces)} tokens {pieces} in this "
                "model's tokenizer, not one",
                "set scoring.levels to words that are single tokens, or use the tokenizer shipped with the checkpoint",
            )
        ids.append(pieces[0])
    return ids


def score_from_logits(logits, levels: tuple[str, ...], weights: tuple[float, ...]) -> LevelScore:
    """``logits``: 1-D tensor of the level-word logits at the scoring position (any float dtype)."""
    import torch

    probs = torch.softmax(logits.detach().to(torch.float32).cpu(), dim=-1)
    w = torch.tensor(weights, dtype=torch.float32)
    score = float((probs * w).sum())
    names = [word.strip() for word in levels]
    values = [float(p) for p in probs]
    return LevelScore(score=score, probs=dict(zip(names, values)), level=names[int(torch.argmax(probs))])
