"""Generation on a tiny random Llama: templates, trimming, streaming, stopping, cancelling."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lmdemo.models.generation import (
    PromptTooLongError,
    end_token_ids,
    fit_to_context,
    prompt_ids,
    stream_chat,
)
from lmdemo.models.loading import load_causal_lm
from lmdemo.models.types import SamplingParams

GREEDY = SamplingParams(temperature=0, max_new_tokens=12)


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    return load_causal_lm(str(tiny_llama_dir), device="cpu", cache_dir=tmp_path_factory.mktemp("cache"))


def test_end_tokens_come_from_the_template(tiny) -> None:
    im_end = tiny.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert im_end in end_token_ids(tiny.tokenizer, tiny.model.generation_config)


def test_prompt_uses_the_chat_template(tiny) -> None:
    ids = prompt_ids(tiny.tokenizer, [{"role": "user", "content": "hello"}])
    text = tiny.tokenizer.decode(ids)
    assert text == "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"


def test_trimming_drops_oldest_turns_and_keeps_the_system_prompt(tiny) -> None:
    system = {"role": "system", "content": "Be brief."}
    turns = []
    for i in range(6):
        turns += [{"role": "user", "content": f"question {i} " * 5}, {"role": "assistant", "content": f"answer {i} " * 5}]
    messages = [system, *turns, {"role": "user", "content": "last question"}]
    full = len(prompt_ids(tiny.tokenizer, messages))
    kept, ids = fit_to_context(tiny.tokenizer, messages, budget=full // 2)
    assert len(ids) <= full // 2
    assert kept[0] == system
    assert kept[-1]["content"] == "last question"
    assert kept[1]["role"] == "user"
    assert len(kept) < len(messages)
    assert kept[1:] == messages[len(messages) - len(kept) + 1 :]


def test_a_message_too_long_for_the_context_is_refused(tiny) -> None:
    messages = [{"role": "system", "content": "x"}, {"role": "user", "content": "Paris is lovely. " * 400}]
    with pytest.raises(PromptTooLongError, match="tokens"):
        fit_to_context(tiny.tokenizer, messages, budget=100)


def test_greedy_stream_is_deterministic_and_reports_length(tiny) -> None:
    messages = [{"role": "user", "content": "hello"}]
    first = list(stream_chat(tiny.model, tiny.tokenizer, messages, GREEDY))
    second = list(stream_chat(tiny.model, tiny.tokenizer, messages, GREEDY))
    text = "".join(c.text for c in first)
    assert text and text == "".join(c.text for c in second)
    assert first[-1].finish_reason == "length"
    assert first[-1].completion_tokens == 12
    assert first[-1].prompt_tokens == len(prompt_ids(tiny.tokenizer, messages))
    assert all(c.finish_reason is None for c in first[:-1])


def test_stream_stops_at_the_template_end_token(tiny) -> None:
    messages = [{"role": "user", "content": "hello"}]
    reference = list(stream_chat(tiny.model, tiny.tokenizer, messages, GREEDY))
    text = "".join(c.text for c in reference)
    first_token = tiny.tokenizer(text, add_special_tokens=False)["input_ids"][0]
    chunks = list(stream_chat(tiny.model, tiny.tokenizer, messages, GREEDY, stop_ids=[first_token]))
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].completion_tokens == 1


def test_cancel_event_ends_generation_long_before_max_new_tokens(tiny) -> None:
    """Measured in tokens, not seconds: a slow machine must not fail it, a fast one must not pass it idly."""
    cancel = threading.Event()
    params = SamplingParams(temperature=0, max_new_tokens=3500)
    stream = stream_chat(tiny.model, tiny.tokenizer, [{"role": "user", "content": "go"}], params, cancel)
    for i, _chunk in enumerate(stream):
        if i == 5:
            cancel.set()
            break
    rest = list(stream)
    assert rest[-1].finish_reason == "cancelled"
    assert rest[-1].completion_tokens < 500


def _generation_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "lmdemo-generate" and t.is_alive()]


def test_closing_the_stream_stops_the_worker_thread(tiny) -> None:
    params = SamplingParams(temperature=0, max_new_tokens=3500)
    stream = stream_chat(tiny.model, tiny.tokenizer, [{"role": "user", "content": "go"}], params)
    for i, _chunk in enumerate(stream):
        if i == 5:
            break
    assert _generation_threads(), "generation should still be running before Stop"
    stream.close()
    assert not _generation_threads(), "closing the stream joins the worker thread"


def test_sampling_params_map_to_generate_kwargs() -> None:
    greedy = SamplingParams(temperature=0).generate_kwargs()
    assert greedy["do_sample"] is False and greedy["temperature"] is None
    sampled = SamplingParams(temperature=0.5, top_p=0.8, top_k=7, max_new_tokens=3).generate_kwargs()
    assert sampled == {
        "do_sample": True,
        "temperature": 0.5,
        "top_p": 0.8,
        "top_k": 7,
        "max_new_tokens": 3,
        "repetition_penalty": 1.1,
    }


def test_max_new_tokens_is_capped_by_the_context(tmp_path: Path) -> None:
    from tests.conftest import build_tiny_llama

    small = load_causal_lm(str(build_tiny_llama(tmp_path / "m", context=48)), device="cpu", cache_dir=tmp_path)
    messages = [{"role": "user", "content": "go"}]
    params = SamplingParams(temperature=0, max_new_tokens=10**6)
    last = list(stream_chat(small.model, small.tokenizer, messages, params))[-1]
    assert last.finish_reason == "length"
    assert last.prompt_tokens + last.completion_tokens == 48
