"""Answer generation: the repetition penalty counts generated tokens only, as in the official assistant
(whose ``generate`` gets ``inputs_embeds`` only, so transformers' penalty never sees the prompt; issue 10).

The reference is a plain greedy loop written out here: a full forward per step (no KV cache), the penalty
formula of transformers' ``RepetitionPenaltyLogitsProcessor`` (a logit below 0 is multiplied by the penalty,
otherwise divided; once per distinct token) over the chosen tokens, argmax, stop at an end id.
"""

from __future__ import annotations

import pytest
import torch

from vqa2cli.config import GenerationSection, Settings
from vqa2cli.modeling.loading import load_model
from vqa2cli.pipeline.answering import generate_answer, generation_options, stop_ids

PENALTY = 1.05
N_NEW = 8
GEN = GenerationSection(max_new_tokens=N_NEW, repetition_penalty=PENALTY)


def greedy_reference(
    model, kwargs: dict, *, count_prompt: bool, eos: list[int], suppress=(), n_new: int = N_NEW
) -> list[int]:
    """Greedy decoding written out; ``count_prompt``: the penalty also sees the prompt ids (the old bug)."""
    ids = kwargs["input_ids"]
    new: list[int] = []
    with torch.no_grad():
        for _ in range(n_new):
            logits = model(**{**kwargs, "input_ids": ids, "attention_mask": torch.ones_like(ids)}).logits[
                0, -1
            ]
            logits = logits.float().clone()
            for t in set(ids[0].tolist() if count_prompt else new):
                logits[t] = logits[t] * PENALTY if logits[t] < 0 else logits[t] / PENALTY
            logits[list(suppress)] = float("-inf")
            new.append(int(logits.argmax()))
            ids = torch.cat([ids, torch.tensor([[new[-1]]])], dim=1)
            if new[-1] in eos:
                break
    return new


class Recording:
    """Stands in for the model in ``generate_answer`` and keeps what its ``generate`` returned."""

    def __init__(self, model):
        self.model, self.out = model, None

    def generate(self, **kwargs):
        self.out = self.model.generate(**kwargs)
        return self.out


def answer_ids(model, tokenizer, kwargs) -> list[int]:
    rec = Recording(model)
    text, n_new = generate_answer(rec, tokenizer, kwargs, GEN)
    ids = rec.out[0, kwargs["input_ids"].shape[1] :].tolist()
    assert (text, n_new) == (tokenizer.decode(ids, skip_special_tokens=True).strip(), len(ids))
    return ids


def make_prompt_token_most_likely(model, kwargs, in_prompt: int, rival: int) -> None:
    """Point two lm_head rows along the last position's final hidden state: ``in_prompt`` (a prompt token)
    gets logit 3.0 and ``rival`` (not in the prompt) 2.95, far above every other token. Counting the prompt,
    the penalty lowers 3.0 to 2.857 and ``rival`` wins; counting generated tokens only, ``in_prompt`` wins."""
    seen = {}
    hook = model.lm_head.register_forward_pre_hook(lambda _m, args: seen.__setitem__("h", args[0][0, -1]))
    with torch.no_grad():
        model(**kwargs)
        hook.remove()
        h = seen["h"].float()
        top = float(model.lm_head(seen["h"]).float().abs().max())
        for token, logit in ((in_prompt, 3.0), (rival, 2.95)):
            model.lm_head.weight[token] = (h / h.dot(h) * logit * max(1.0, top)).to(
                model.lm_head.weight.dtype
            )


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from vqa2cli.modeling.loading import load_tokenizer, read_config

    return load_tokenizer(tiny_model_dir, read_config(tiny_model_dir, "eager"))


def tiny_qwen2(vocab: int, seed: int = 3):
    """A tiny random Qwen2 language model (text only, fp32) over the tiny checkpoint's tokenizer."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    return Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=vocab,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=512,
            tie_word_embeddings=False,
        )
    ).eval()


def official_route(model, ids, eos) -> list[int]:
    """What the official assistant does: inputs_embeds only, transformers' own penalty."""
    with torch.no_grad(), pytest.warns(UserWarning, match="only to newly generated tokens"):
        out = model.generate(
            inputs_embeds=model.get_input_embeddings()(ids),
            attention_mask=torch.ones_like(ids),
            max_new_tokens=N_NEW,
            do_sample=False,
            repetition_penalty=PENALTY,
            eos_token_id=eos,
            pad_token_id=eos[0],
        )
    return out[0].tolist()


def test_most_likely_next_token_in_the_prompt_is_not_penalised(tokenizer):
    model = tiny_qwen2(len(tokenizer))
    eos = stop_ids(tokenizer)
    ids = torch.tensor([tokenizer("Is there rubber stutter in the video?").input_ids])
    kwargs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    in_prompt, rival = ids[0, 2].item(), next(t for t in range(len(tokenizer)) if t not in ids[0].tolist())
    make_prompt_token_most_likely(model, kwargs, in_prompt, rival)
    with torch.no_grad():
        assert int(model(**kwargs).logits[0, -1].argmax()) == in_prompt
    want = greedy_reference(model, kwargs, count_prompt=False, eos=eos)
    old = greedy_reference(model, kwargs, count_prompt=True, eos=eos)
    assert want[0] == in_prompt and old[0] == rival  # the case tells the two behaviours apart
    assert answer_ids(model, tokenizer, kwargs) == want
    assert official_route(model, ids, eos) == want
    with torch.no_grad():  # the old call (input_ids + transformers' own penalty) gives the other answer
        main = model.generate(
            **kwargs,
            max_new_tokens=N_NEW,
            do_sample=False,
            repetition_penalty=PENALTY,
            eos_token_id=eos,
            pad_token_id=eos[0],
        )
    assert main[0, ids.shape[1] :].tolist() == old


def test_random_prompts_match_the_reference_and_the_official_route(tokenizer):
    model = tiny_qwen2(len(tokenizer), seed=5)
    eos = stop_ids(tokenizer)
    g = torch.Generator().manual_seed(11)
    for _ in range(6):
        ids = torch.randint(0, len(tokenizer) - 8, (1, 20), generator=g)
        kwargs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        got = answer_ids(model, tokenizer, kwargs)
        assert got == greedy_reference(model, kwargs, count_prompt=False, eos=eos)
        assert got == official_route(model, ids, eos)


def test_options_install_transformers_penalty_after_the_prompt(tokenizer):
    options = generation_options(tokenizer, GenerationSection(repetition_penalty=1.0), 30)
    assert options["repetition_penalty"] == 1.0 and "logits_processor" not in options
    options = generation_options(tokenizer, GenerationSection(), 30)
    (proc,) = options["logits_processor"]
    assert options["repetition_penalty"] == 1.0 and (proc.penalty, proc.prompt_ignore_length) == (1.05, 30)


def test_ask_path_on_the_tiny_checkpoint(tiny_model_dir):
    """The users' model (spliced key-frame and motion features, suppressed padding rows)."""
    loaded = load_model(tiny_model_dir, Settings())
    model, tok = loaded.model, loaded.tokenizer
    cfg = model.config
    question = tok("Is there rubber stutter?").input_ids
    ids = torch.tensor(
        [
            [5, 6]
            + [cfg.video_token_id] * cfg.keyframe_block_length(1)
            + [8]
            + [cfg.motion_token_id] * 4
            + [9]
            + question
        ]
    )
    g = torch.Generator().manual_seed(0)
    kwargs = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "pixel_values_videos": torch.rand(1, 1, 3, 384, 384, generator=g) * 2 - 1,
        "motion_pixel_values": torch.rand(1, 4, 3, 32, 32, generator=g) * 2 - 1,
    }
    rival = next(t for t in range(10, len(tok)) if t not in ids[0].tolist())
    make_prompt_token_most_likely(model, kwargs, question[1], rival)
    eos, suppress = stop_ids(tok), list(model.generation_config.suppress_tokens)
    want = greedy_reference(model, kwargs, count_prompt=False, eos=eos, suppress=suppress)
    old = greedy_reference(model, kwargs, count_prompt=True, eos=eos, suppress=suppress, n_new=1)
    assert want[0] == question[1] and old[0] != want[0]
    assert answer_ids(model, tok, kwargs) == want
