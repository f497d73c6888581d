import pytest

from vqa2cli.config import merge_layers
from vqa2cli.errors import ModelNotFoundError
from vqa2cli.registry import get_card, list_cards, resolve_reference


def test_every_card_is_a_valid_layer():
    cards = list_cards()
    assert {"ugc-scorer", "streaming-scorer", "assistant"} <= {c.name for c in cards}
    for card in cards:
        s = merge_layers(card.layer)  # unknown keys in a card would raise
        assert s.model.repo.startswith("q-future/")
        assert s.model.task in ("score", "ask")


def test_published_cards_use_official_preprocessing():
    for card in list_cards():
        s = merge_layers(card.layer)
        assert (s.video.keyframe_size, s.video.motion_size, s.video.motion_norm) == (384, 384, "siglip")
        assert s.video.max_motion_frames == 2000


def test_unknown_card_suggests():
    with pytest.raises(ModelNotFoundError, match="did you mean 'ugc-scorer'"):
        get_card("ugc-scorr")


def test_resolve_reference_forms(tmp_path):
    assert resolve_reference(None, "score").card.name == "ugc-scorer"
    assert resolve_reference(None, "ask").card.name == "assistant"
    ref = resolve_reference("q-future/VQA-Assistant-llava_qwen@abc123", "score")
    assert (ref.repo, ref.revision, ref.card.name) == (
        "q-future/VQA-Assistant-llava_qwen",
        "abc123",
        "assistant",
    )
    ref = resolve_reference(str(tmp_path), "score")
    assert ref.local_dir == tmp_path and ref.card.name == "ugc-scorer"
    (tmp_path / "vqa2-card.toml").write_text('[model]\nname = "mine"\ntask = "ask"\n')
    assert resolve_reference(str(tmp_path), "score").card.name == "mine"
    with pytest.raises(ModelNotFoundError, match="folder not found"):
        resolve_reference("./nope", "score")


def test_cards_carry_only_what_differs_from_the_defaults():
    """Each fact once: a card repeating a default would hide where the value really comes from."""
    from vqa2cli.config import Settings

    defaults = Settings().to_dict()
    identity = {"name", "description", "repo", "revision", "task", "prompt"}  # what names the card
    for card in list_cards():
        for section, values in card.layer.items():
            repeated = {k for k, v in values.items() if k not in identity and defaults[section][k] == v}
            assert not repeated, (card.name, section, repeated)
