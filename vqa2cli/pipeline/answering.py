"""Answer generation for ``vqa2 ask``: greedy by default (reproducible), optionally streamed as it is
generated. ``<|im_end|>`` and ``<|endoftext|>`` end the answer, as in the checkpoints' generation_config.

**Repetition penalty over generated tokens only.** The published generation_config sets
``repetition_penalty`` 1.05. The official assistant (``QI/llava/model/language_model/llava_qwen.py``
``generate``) splices the video features itself and hands transformers only ``inputs_embeds``, without
``input_ids``, so transformers' ``RepetitionPenaltyLogitsProcessor`` sees only the tokens generated so far.
vqa2 passes ``input_ids`` (the model splices the features in its forward); handed to transformers'
default penalty they would also lower every prompt token (question, template words, placeholder ids),
changing greedy answers. :func:`generation_options` therefore turns the built-in penalty off and installs
the same processor with ``prompt_ignore_length`` = the prompt length: identical formula (a logit below 0
is multiplied by the penalty, otherwise divided, once per distinct token), applied to new tokens only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import GenerationSection


def stop_ids(tokenizer) -> list[int]:
    ids = []
    for token in ("<|im_end|>", "<|endoftext|>"):
        tid = tokenizer.convert_tokens_to_ids(token)
        if isinstance(tid, int) and tid != getattr(tokenizer, "unk_token_id", None):
            ids.append(tid)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def make_streamer(tokenizer, on_text: Callable[[str], None]):
    """A transformers streamer that calls ``on_text`` with each new piece of decoded answer text."""
    from transformers.generation.streamers import BaseStreamer

    class _Streamer(BaseStreamer):
        def __init__(self):
            self.ids: list[int] = []
            self.sent = 0
            self.prompt_done = False

        def put(self, value):
            if not self.prompt_done:  # the first call carries the prompt ids
                self.prompt_done = True
                return
            self.ids.extend(int(v) for v in value.reshape(-1).tolist())
            text = tokenizer.decode(self.ids, skip_special_tokens=True)
            if text.endswith("\ufffd"):  # an incomplete UTF-8 sequence: wait for the next token
                return
            if len(text) > self.sent:
                on_text(text[self.sent :])
                self.sent = len(text)

        def end(self):
            text = tokenizer.decode(self.ids, skip_special_tokens=True)
            if len(text) > self.sent:
                on_text(text[self.sent :])
                self.sent = len(text)

    return _Streamer()


def generation_options(tokenizer, gen: GenerationSection, prompt_len: int) -> dict[str, Any]:
    """Keyword arguments for ``model.generate`` from ``gen``; ``prompt_len`` is the number of prompt ids in
    the ``input_ids`` given to ``generate`` (cached prefix included), 0 when only ``inputs_embeds`` are given.

    The repetition penalty counts generated tokens only (module docstring): transformers' own
    ``repetition_penalty`` is set to 1.0 and ``RepetitionPenaltyLogitsProcessor(penalty,
    prompt_ignore_length=prompt_len)`` is passed as a ``logits_processor``. transformers places custom
    processors after its built-in ones and before the sampling warpers (temperature, top-k, top-p), i.e.
    where its own penalty would run.
    """
    from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor

    stops = stop_ids(tokenizer)
    options: dict[str, Any] = {
        "max_new_tokens": gen.max_new_tokens,
        "do_sample": gen.do_sample,
        "repetition_penalty": 1.0,  # the checkpoint's 1.05 would also count the prompt: applied below instead
        "eos_token_id": stops,
        "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0],
    }
    if gen.repetition_penalty != 1.0:
        options["logits_processor"] = LogitsProcessorList(
            [
                RepetitionPenaltyLogitsProcessor(
                    float(gen.repetition_penalty), prompt_ignore_length=int(prompt_len)
                )
            ]
        )
    if gen.do_sample:
        options.update(temperature=gen.temperature, top_p=gen.top_p)
    else:  # greedy: unset the checkpoint's sampling defaults so transformers does not warn about them
        options.update(temperature=None, top_p=None, top_k=None)
    return options


def generate_answer(
    model,
    tokenizer,
    kwargs: dict[str, Any],
    gen: GenerationSection,
    on_text: Callable[[str], None] | None = None,
) -> tuple[str, int]:
    """Generate an answer for one prompt; returns (answer text, number of new tokens).

    ``kwargs`` are the model inputs for ``generate`` (``input_ids`` [1, L] with the spliced placeholders,
    ``attention_mask``, pixel tensors, optionally a prefix cache); the first ``L`` ids are the prompt, and
    the repetition penalty ``gen.repetition_penalty`` counts only the ids generated after them.
    """
    import torch

    prompt_len = kwargs["input_ids"].shape[1] if kwargs.get("input_ids") is not None else 0
    options = generation_options(tokenizer, gen, prompt_len)
    if on_text is not None:
        options["streamer"] = make_streamer(tokenizer, on_text)
    with torch.inference_mode():
        out = model.generate(**kwargs, **options)
    new = out[0, prompt_len:] if out.shape[1] > prompt_len else out[0]
    return tokenizer.decode(new, skip_special_tokens=True).strip(), int(new.shape[0])
