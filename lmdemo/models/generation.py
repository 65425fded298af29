"""Streaming chat generation with a local transformers model.

The prompt comes from the tokenizer's own chat template; `generate` runs in a worker thread
feeding a `TextIteratorStreamer`; a per-request cancel event, checked by a stopping
criterion at every token, ends generation for real when the user presses Stop or leaves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

from lmdemo.errors import UserError
from lmdemo.limits import MAX_CHARS_PER_TOKEN
from lmdemo.models.types import Chunk, FinishReason, Message, SamplingParams


class PromptTooLongError(UserError, ValueError):
    """The newest message alone does not fit the model's context."""


class _CancelAndCount(StoppingCriteria):
    """Stops when the cancel event is set; counts generated tokens on the way."""

    def __init__(self, cancel: threading.Event, prompt_length: int) -> None:
        self.cancel = cancel
        self.prompt_length = prompt_length
        self.generated = 0

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        self.generated = input_ids.shape[1] - self.prompt_length
        return torch.full((input_ids.shape[0],), self.cancel.is_set(), dtype=torch.bool, device=input_ids.device)


def _as_list(value: int | Sequence[int] | None) -> list[int]:
    if value is None:
        return []
    return [value] if isinstance(value, int) else list(value)


def end_token_ids(tokenizer: Any, generation_config: Any) -> list[int]:
    """The ids that end an assistant turn: the configured EOS plus the template's own end token.

    The end token is read off the template itself (the special token that follows an
    assistant message), so ChatML, Llama-3 and Gemma templates all stop where they should.
    """
    ids = _as_list(getattr(generation_config, "eos_token_id", None)) + _as_list(tokenizer.eos_token_id)
    marker = "\u2063lmdemo-end-probe\u2063"
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": marker}], tokenize=False
    )
    if marker in rendered:
        after = tokenizer(rendered.split(marker, 1)[1], add_special_tokens=False)["input_ids"]
        special = set(tokenizer.all_special_ids)
        ids += [token for token in after[:2] if token in special][:1]
    return sorted(set(ids))


def prompt_ids(tokenizer: Any, messages: Sequence[Message]) -> list[int]:
    """Token ids of the templated conversation, ending with the assistant's turn opener."""
    encoded = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, return_dict=True)
    return list(encoded["input_ids"])


def fit_to_context(tokenizer: Any, messages: Sequence[Message], budget: int) -> tuple[list[Message], list[int]]:
    """Drop the oldest turns until the prompt fits `budget` tokens; the system prompt always stays.

    Raises PromptTooLongError when even the system prompt plus the newest message is too long.
    """
    system = [m for m in messages[:1] if m["role"] == "system"]
    rest = list(messages[len(system) :])
    while True:
        ids = prompt_ids(tokenizer, system + rest)
        if len(ids) <= budget:
            return system + rest, ids
        if len(rest) <= 1:
            raise PromptTooLongError(
                f"the message is {len(ids)} tokens with the system prompt, but the model can take "
                f"{budget} before its reply; shorten it or lower 'max new tokens'"
            )
        rest = rest[1:]
        while len(rest) > 1 and rest[0]["role"] != "user":
            rest = rest[1:]


def context_length(model: Any) -> int:
    config = model.config
    return int(getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", 2048))


def prepare_prompt(
    context: int, tokenizer: Any, messages: Sequence[Message], max_new_tokens: int, max_prompt_tokens: int | None = None
) -> tuple[list[int], int]:
    """Prompt ids and the number of new tokens allowed in a `context` of that many tokens.

    Old turns are dropped so that at least min(max_new_tokens, context / 2) tokens are left
    for the reply (and the prompt stays within `max_prompt_tokens`); the reply may then use
    whatever room remains, up to max_new_tokens. A newest message far longer than the limit
    is refused before tokenizing it, so a megabyte of text costs nothing.
    """
    requested = max(1, int(max_new_tokens))
    budget = context - min(requested, context // 2)
    if max_prompt_tokens:
        budget = min(budget, max_prompt_tokens)
        newest = sum(len(m["content"]) for m in messages[-1:]) + sum(
            len(m["content"]) for m in messages[:1] if m["role"] == "system"
        )
        if newest > budget * MAX_CHARS_PER_TOKEN:
            raise PromptTooLongError(
                f"the message is {newest:,} characters; the limit is {budget:,} tokens "
                f"(about {budget * 4:,} characters of English). Shorten it."
            )
    _, ids = fit_to_context(tokenizer, messages, budget)
    return ids, min(requested, context - len(ids))


def stream_chat(
    model: Any,
    tokenizer: Any,
    messages: Sequence[Message],
    params: SamplingParams,
    cancel: threading.Event | None = None,
    stop_ids: Sequence[int] | None = None,
) -> Iterator[Chunk]:
    """Yield the reply to `messages` as it is generated, one request at a time.

    `stop_ids` defaults to `end_token_ids`; callers that stream often pass it precomputed.
    """
    ids, max_new = prepare_prompt(context_length(model), tokenizer, messages, params.max_new_tokens)
    eos_ids = list(stop_ids) if stop_ids is not None else end_token_ids(tokenizer, model.generation_config)
    return stream_ids(model, tokenizer, ids, max_new, params, cancel or threading.Event(), eos_ids)


def stream_ids(
    model: Any,
    tokenizer: Any,
    ids: Sequence[int],
    max_new: int,
    params: SamplingParams,
    cancel: threading.Event,
    eos_ids: Sequence[int],
) -> Iterator[Chunk]:
    """`generate` on a prepared prompt in a worker thread, streamed through `TextIteratorStreamer`.

    Closing the iterator (Stop, a disconnected client) sets the cancel event, and the worker
    thread ends at the next token.
    """
    params = replace(params, max_new_tokens=max_new)
    input_ids = torch.tensor([list(ids)], device=model.device)
    counter = _CancelAndCount(cancel, len(ids))
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    failure: list[BaseException] = []

    def work() -> None:
        try:
            with torch.inference_mode():
                model.generate(
                    input_ids=input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([counter]),
                    eos_token_id=list(eos_ids),
                    pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
                    **params.generate_kwargs(),
                )
        except BaseException as error:  # surfaced to the consumer below
            failure.append(error)
            streamer.end()

    worker = threading.Thread(target=work, name="lmdemo-generate", daemon=True)
    worker.start()
    try:
        for text in streamer:
            if text:
                yield Chunk(text, counter.generated, len(ids))
        worker.join()
        if failure:
            raise failure[0]
        if cancel.is_set():
            reason: FinishReason = "cancelled"
        else:
            reason = "length" if counter.generated >= max_new else "stop"
        yield Chunk("", counter.generated, len(ids), reason)
    finally:
        cancel.set()
        worker.join(timeout=5)
