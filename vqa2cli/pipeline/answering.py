"""Answer generation for ``vqa2 ask``: greedy by default (reproducible), optionally streamed as it is
generated. ``<|im_end|>`` and ``<|endoftext|>`` end the answer, as in the checkpoints' generation_config."""

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
                on_text(text[self.sent:])
                self.sent = len(text)

        def end(self):
            text = tokenizer.decode(self.ids, skip_special_tokens=True)
            if len(text) > self.sent:
                on_text(text[self.sent:])
                self.sent = len(text)

    return _Streamer()


def generate_answer(model, tokenizer, kwargs: dict[str, Any], gen: GenerationSection,
                    on_text: Callable[[str], None] | None = None) -> tuple[str, int]:
    """Returns (answer text, number of new tokens)."""
    import torch

    options: dict[str, Any] = {
        "max_new_tokens": gen.max_new_tokens,
        "do_sample": gen.do_sample,
        "repetition_penalty": gen.repetition_penalty,
        "eos_token_id": stop_ids(tokenizer),
        "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids(tokenizer)[0],
    }
    if gen.do_sample:
        options.update(temperature=gen.temperature, top_p=gen.top_p)
    else:  # greedy: unset the checkpoint's sampling defaults so transformers does not warn about them
        options.update(temperature=None, top_p=None, top_k=None)
    if on_text is not None:
        options["streamer"] = make_streamer(tokenizer, on_text)
    with torch.inference_mode():
        out = model.generate(**kwargs, **options)
    prompt_len = kwargs["input_ids"].shape[1]
    new = out[0, prompt_len:] if out.shape[1] > prompt_len else out[0]
    return tokenizer.decode(new, skip_special_tokens=True).strip(), int(new.shape[0])
