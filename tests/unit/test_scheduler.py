"""The continuous-batching scheduler on a tiny random Llama: same tokens as `generate`, per-request
settings, cancelling, and the bounded number of requests."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from lmdemo.errors import ServerBusyError
from lmdemo.models.generation import context_length, end_token_ids, prepare_prompt, stream_ids
from lmdemo.models.loading import load_causal_lm
from lmdemo.models.scheduler import BatchScheduler
from lmdemo.models.types import BatchingConfig
from lmdemo.models.types import SamplingParams

GREEDY = SamplingParams(temperature=0, max_new_tokens=12, repetition_penalty=1.0)
QUESTIONS = ["hello there", "the quick brown fox", "attention is all", "Paris is the capital of"]


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    return load_causal_lm(str(tiny_llama_dir), device="cpu", cache_dir=tmp_path_factory.mktemp("cache"))


def _scheduler(tiny, **sizes: int) -> BatchScheduler:
    stop_ids = end_token_ids(tiny.tokenizer, tiny.model.generation_config)
    return BatchScheduler(tiny.model, tiny.tokenizer, stop_ids, BatchingConfig(kv_cache_tokens=4096, **sizes))


@pytest.fixture(scope="module")
def scheduler(tiny):
    scheduler = _scheduler(tiny)
    yield scheduler
    scheduler.close()


def _prompt(tiny, question: str) -> list[int]:
    ids, _ = prepare_prompt(context_length(tiny.model), tiny.tokenizer, [{"role": "user", "content": question}], 64)
    return ids


def _reply(chunks) -> tuple[str, list]:
    chunks = list(chunks)
    return "".join(c.text for c in chunks), chunks


def test_concurrent_greedy_replies_equal_unbatched_generate(tiny, scheduler: BatchScheduler) -> None:
    stop_ids = end_token_ids(tiny.tokenizer, tiny.model.generation_config)
    expected = [
        _reply(stream_ids(tiny.model, tiny.tokenizer, _prompt(tiny, q), 12, GREEDY, threading.Event(), stop_ids))[0]
        for q in QUESTIONS
    ]
    results: dict[int, str] = {}

    def run(i: int) -> None:
        results[i] = _reply(scheduler.submit(_prompt(tiny, QUESTIONS[i]), 12, GREEDY, threading.Event()))[0]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(QUESTIONS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [results[i] for i in range(len(QUESTIONS))] == expected
    assert all(expected)


def test_each_request_keeps_its_own_length_and_reports_it(tiny, scheduler: BatchScheduler) -> None:
    _, short = _reply(scheduler.submit(_prompt(tiny, "hello"), 3, GREEDY, threading.Event()))
    _, long = _reply(scheduler.submit(_prompt(tiny, "hello"), 9, GREEDY, threading.Event()))
    assert (short[-1].completion_tokens, short[-1].finish_reason) == (3, "length")
    assert (long[-1].completion_tokens, long[-1].finish_reason) == (9, "length")


def test_sampling_settings_are_per_request(tiny, scheduler: BatchScheduler) -> None:
    hot = SamplingParams(temperature=2.0, top_k=0, top_p=1.0, max_new_tokens=12, repetition_penalty=1.0)
    prompt = _prompt(tiny, "the quick brown fox")
    greedy = {_reply(scheduler.submit(prompt, 12, GREEDY, threading.Event()))[0] for _ in range(3)}
    sampled = {_reply(scheduler.submit(prompt, 12, hot, threading.Event()))[0] for _ in range(3)}
    assert len(greedy) == 1
    assert len(sampled) > 1


def test_cancel_ends_the_request_and_frees_its_slot(tiny) -> None:
    scheduler = _scheduler(tiny, max_running=1, max_waiting=0)
    try:
        cancel = threading.Event()
        stream = scheduler.submit(_prompt(tiny, "hello"), 400, GREEDY, cancel)
        first = next(stream)
        assert first.finish_reason is None
        with pytest.raises(ServerBusyError, match="busy"):
            next(scheduler.submit(_prompt(tiny, "hello"), 5, GREEDY, threading.Event()))
        cancel.set()
        rest = list(stream)
        assert rest[-1].finish_reason == "cancelled"
        assert rest[-1].completion_tokens < 400
        text, chunks = _reply(scheduler.submit(_prompt(tiny, "hello"), 5, GREEDY, threading.Event()))
        assert chunks[-1].finish_reason == "length"
    finally:
        scheduler.close()


def test_stop_takes_the_request_out_of_the_batch(tiny) -> None:
    """Stop reaches the batching manager: the request leaves its batch long before its 3,000 tokens
    (the "cancelled" chunk alone comes from our side, whether or not the manager was told)."""
    scheduler = _scheduler(tiny, max_running=2, max_waiting=0)
    manager = scheduler._manager
    cancelled: list[str] = []
    tell = manager.cancel_request
    manager.cancel_request = lambda request_id: (cancelled.append(request_id), tell(request_id))[1]
    try:
        cancel = threading.Event()
        stream = scheduler.submit(_prompt(tiny, "hello"), 3000, GREEDY, cancel)
        next(stream)
        active = manager.batch_processor.scheduler.active_requests
        (request_id,) = list(active)
        cancel.set()
        assert list(stream)[-1].finish_reason == "cancelled"
        assert cancelled == [request_id]
        deadline = time.monotonic() + 60
        while request_id in active and time.monotonic() < deadline:
            time.sleep(0.05)
        assert request_id not in active and request_id not in manager.batch_processor.scheduler.waiting_requests
    finally:
        scheduler.close()


def test_closing_the_stream_frees_the_slot(tiny) -> None:
    scheduler = _scheduler(tiny, max_running=1, max_waiting=0)
    try:
        stream = scheduler.submit(_prompt(tiny, "hello"), 400, GREEDY, threading.Event())
        next(stream)
        stream.close()
        _, chunks = _reply(scheduler.submit(_prompt(tiny, "hello"), 4, GREEDY, threading.Event()))
        assert chunks[-1].completion_tokens == 4
    finally:
        scheduler.close()


def test_repetition_penalty_requests_run_unbatched_with_the_same_result_as_generate(tiny, scheduler) -> None:
    stop_ids = end_token_ids(tiny.tokenizer, tiny.model.generation_config)
    penalised = SamplingParams(temperature=0, max_new_tokens=12, repetition_penalty=1.5)
    prompt = _prompt(tiny, "the quick brown fox")
    expected, _ = _reply(stream_ids(tiny.model, tiny.tokenizer, prompt, 12, penalised, threading.Event(), stop_ids))
    got, _ = _reply(scheduler.submit(prompt, 12, penalised, threading.Event()))
    assert got == expected
    assert got != _reply(scheduler.submit(prompt, 12, GREEDY, threading.Event()))[0]


def test_the_incremental_decoder_sends_exactly_the_text_and_decodes_only_a_window(tiny_llama_dir: Path) -> None:
    """Chinese and an emoji split over byte tokens arrive whole; the pieces add up to the full decode;
    each step decodes a few tokens, not the whole reply."""
    from transformers import AutoTokenizer

    from lmdemo.models.scheduler import _Decoder

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    reply = "Hello, 世界! A café 🙂 costs 3.50 — " * 20
    ids = tokenizer(reply, add_special_tokens=False)["input_ids"]
    lengths: list[int] = []
    decode = tokenizer.decode

    def counting(tokens, **kwargs):
        lengths.append(len(tokens))
        return decode(tokens, **kwargs)

    tokenizer.decode = counting
    decoder = _Decoder(tokenizer)
    pieces = [decoder.feed(ids[:n], final=n == len(ids)) for n in range(1, len(ids) + 1)]
    assert "".join(pieces) == decode(ids, skip_special_tokens=True)
    assert all("\ufffd" not in piece for piece in pieces)
    assert len(ids) > 200 and max(lengths) < 20, "a window, not the whole reply"
