"""The llama.cpp engine on the packaged GGUF: batching, sampling settings, cancel, stop strings,
streaming text, limits, and which engine serves which model."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmdemo.errors import ServerBusyError
from lmdemo.models.generation import PromptTooLongError, prompt_ids
from lmdemo.models.llamacpp.backend import LlamaCppChatBackend
from lmdemo.models.llamacpp.batching import LlamaCppScheduler
from lmdemo.models.loading import ModelLoadError
from lmdemo.models.manager import ModelManager
from lmdemo.models.types import BatchingConfig, Chunk, SamplingParams
from lmdemo.settings import Settings

from tests.questions import ANSWER, QUESTION

SYSTEM = "You are a helpful assistant."
GREEDY = SamplingParams(temperature=0.0, max_new_tokens=48, repetition_penalty=1.0)
QUESTIONS = [
    QUESTION,
    "Name three colours of the rainbow.",
    "Write one sentence about the sea.",
    "What is two plus two?",
]


@pytest.fixture(scope="module")
def manager(cache_dir: Path) -> ModelManager:
    """The packaged file as it is: with the q8_0 cache (flash attention), its Q4_1 kernels compute a
    token alike in a batch of one or of four, so batching must change no greedy reply. (The
    re-quantized copy's faster kernels and the default f16 cache's ordinary attention take other
    paths for larger batches; tests/integration/test_gguf_requantize.py covers the copy.)"""
    return ModelManager(Settings(cache_dir=cache_dir, device="cpu", gguf_requantize="off"))


@pytest.fixture(scope="module")
def backend(manager: ModelManager) -> Iterator[LlamaCppChatBackend]:
    engine = LlamaCppChatBackend(manager, BatchingConfig(max_running=4, max_waiting=4, kv_cache_tokens=4096,
                                                         kv_cache="q8_0"), 2)
    yield engine
    engine.scheduler().close()


def _text(chunks: list[Chunk]) -> str:
    return "".join(c.text for c in chunks)


def _ask(backend: LlamaCppChatBackend, question: str, params: SamplingParams = GREEDY) -> list[Chunk]:
    return list(backend.stream([{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}], params))


def _wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_the_packaged_gguf_chats_through_llama_cpp(manager: ModelManager, backend: LlamaCppChatBackend) -> None:
    assert manager.chat_engine == "llamacpp"
    chunks = _ask(backend, QUESTION)
    assert ANSWER in _text(chunks)
    assert chunks[-1].finish_reason == "stop" and chunks[-1].completion_tokens < 48
    assert manager.gguf_chat().report.engine == "llama.cpp"


def test_four_concurrent_greedy_replies_equal_one_at_a_time(backend: LlamaCppChatBackend) -> None:
    """Each reply has its own cache, so batching changes nothing in a greedy reply (see batching.py)."""
    assert backend.scheduler().context == 1024
    alone = [_text(_ask(backend, q)) for q in QUESTIONS]
    together: dict[int, str] = {}
    threads = [threading.Thread(target=lambda i=i: together.__setitem__(i, _text(_ask(backend, QUESTIONS[i]))))
               for i in range(len(QUESTIONS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [together[i] for i in range(len(QUESTIONS))] == alone
    assert len(set(alone)) == len(alone), "different questions, different answers"


def test_each_request_keeps_its_own_sampling_settings(backend: LlamaCppChatBackend) -> None:
    question = "Write a short poem about autumn."
    greedy = _text(_ask(backend, question))
    hot = SamplingParams(temperature=1.5, top_k=0, top_p=1.0, max_new_tokens=48, repetition_penalty=1.0)
    top1 = SamplingParams(temperature=1.5, top_k=1, top_p=1.0, max_new_tokens=48, repetition_penalty=1.0)
    results: dict[str, list[str]] = {"hot": [], "top1": []}

    def run(name: str, params: SamplingParams) -> None:
        results[name].append(_text(_ask(backend, question, params)))

    threads = [threading.Thread(target=run, args=(name, params)) for name, params in
               [("hot", hot), ("top1", top1), ("hot", hot), ("top1", top1)]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["top1"] == [greedy, greedy], "top-k 1 samples the argmax whatever the temperature"
    assert len(set(results["hot"])) == 2 and greedy not in results["hot"], "temperature 1.5 samples"
    penalised = _text(_ask(backend, question, SamplingParams(temperature=0.0, max_new_tokens=48, repetition_penalty=1.5)))
    assert penalised != greedy


@pytest.mark.parametrize("kv_cache", ["f16", "q8_0"])
def test_each_cache_type_takes_the_memory_it_says_and_answers(manager: ModelManager, kv_cache: str) -> None:
    """llama.cpp allocates (and clears) the whole cache when the context is made: the process grows by
    f16's 2 bytes per value, or q8_0's 34 bytes per 32, as the scheduler logs it."""
    import psutil

    model = manager.gguf_chat().model
    expected = 8192 * model.kv_values_per_token * (2 if kv_cache == "f16" else 34 / 32)
    before = psutil.Process().memory_info().rss
    scheduler = LlamaCppScheduler(model, BatchingConfig(max_running=2, kv_cache_tokens=8192, kv_cache=kv_cache), 2)
    try:
        grown = psutil.Process().memory_info().rss - before
        assert scheduler.cache_bytes == pytest.approx(expected, rel=0.001)
        assert grown == pytest.approx(expected, rel=0.15), f"grew {grown / 2**20:.0f} MB for a {expected / 2**20:.0f} MB cache"
        ids = prompt_ids(manager.gguf_chat().tokenizer, [{"role": "user", "content": QUESTIONS[0]}])
        assert ANSWER in _text(list(scheduler.submit(ids, 24, GREEDY, threading.Event())))
    finally:
        scheduler.close()


def test_a_long_reply_stops_at_max_new_tokens(backend: LlamaCppChatBackend) -> None:
    chunks = _ask(backend, "Write a long story about a dragon.", SamplingParams(temperature=0.0, max_new_tokens=20,
                                                                                  repetition_penalty=1.0))
    assert chunks[-1].finish_reason == "length" and chunks[-1].completion_tokens == 20


def test_closing_a_stream_frees_the_sequence_its_cache_and_its_slot(manager: ModelManager) -> None:
    import llama_cpp as lc

    scheduler = LlamaCppScheduler(manager.gguf_chat().model, BatchingConfig(max_running=1, max_waiting=0,
                                                                              kv_cache_tokens=2048), 2)
    assert scheduler.context == 2048
    try:
        tokenizer = manager.gguf_chat().tokenizer
        ids = prompt_ids(tokenizer, [{"role": "system", "content": SYSTEM},
                                     {"role": "user", "content": "Write a long story about a dragon."}])
        long = SamplingParams(temperature=0.0, max_new_tokens=1000, repetition_penalty=1.0)
        stream = scheduler.submit(ids, 1000, long, threading.Event())
        next(stream)
        assert lc.llama_memory_seq_pos_max(scheduler._memory, 0) >= len(ids) - 1, "the prompt is in the cache"
        with pytest.raises(ServerBusyError, match=r"busy \(1 replies running and 0 waiting\)"):
            next(scheduler.submit(ids, 10, GREEDY, threading.Event()))
        stream.close()
        assert _wait_until(lambda: not scheduler._running and scheduler._free_ids == {0})
        assert lc.llama_memory_seq_pos_max(scheduler._memory, 0) == -1, "its KV cells are free"
        again = list(scheduler.submit(ids, 5, GREEDY, threading.Event()))
        assert again[-1].completion_tokens == 5
    finally:
        scheduler.close()


def test_a_stop_string_ends_the_reply_before_it(backend: LlamaCppChatBackend) -> None:
    question = "Write a short poem about the sea."
    full = _text(_ask(backend, question))
    stop = full[len(full) // 2 : len(full) // 2 + 4]
    assert stop.strip() and len(full) > 20
    cut = _ask(backend, question, SamplingParams(temperature=0.0, max_new_tokens=48, repetition_penalty=1.0,
                                                 stop=("never-appears", stop)))
    assert _text(cut) == full[: full.find(stop)]
    assert cut[-1].finish_reason == "stop" and cut[-1].completion_tokens < 48
    assert _wait_until(lambda: not backend.scheduler()._running), "the cut reply's sequence is freed"


def test_emoji_and_chinese_characters_stream_whole(backend: LlamaCppChatBackend, manager: ModelManager) -> None:
    """A character split across tokens reaches the client whole, never as half a UTF-8 sequence."""
    text = "你好，世界 🌍🚀 café"
    tokens = manager.gguf_chat().tokenizer(text, add_special_tokens=False)["input_ids"]
    pieces = [manager.gguf_chat().model.piece(t) for t in tokens]
    assert any(_splits_a_character(p) for p in pieces), "the test needs a token that is part of a character"
    scheduler = backend.scheduler()
    from lmdemo.models.llamacpp.batching import _Request, _Sequence

    request = _Request([1, 2, 3], len(tokens) + 1, GREEDY)
    sequence = _Sequence(request, seq_id=-1, sampler=None)
    for token in tokens:
        scheduler._emit(sequence, token)
    streamed = []
    while not request.outbox.empty():
        streamed.append(request.outbox.get().text)
    assert "".join(streamed) == text
    assert all("\ufffd" not in piece for piece in streamed)


def _splits_a_character(piece: bytes) -> bool:
    try:
        piece.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def test_a_prompt_over_the_context_is_refused_with_the_usual_message(backend: LlamaCppChatBackend) -> None:
    with pytest.raises(PromptTooLongError, match=r"the message is \d+ tokens with the system prompt, but the model "
                                                  r"can take \d+ before its reply"):
        _ask(backend, "word " * 5000)


def test_the_lab_uses_a_transformers_copy_while_llama_cpp_chats(cache_dir: Path) -> None:
    from lmdemo.services import build_services

    services = build_services(Settings(cache_dir=cache_dir, device="cpu", rate_limit_per_minute=0))
    assert isinstance(services.models.backend(), LlamaCppChatBackend)
    rows = services.lab.next_token("The capital of France is", 5, show=5)
    assert rows[0]["token"] == " Paris"
    roles = {r.role: r.engine for r in services.models.reports()}
    assert roles == {"Lab (transformers copy)": "transformers"}, "the Lab loads its copy; chat was not asked yet"


def test_engine_choice_follows_the_model_and_the_settings(cache_dir: Path, tiny_llama_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def engine(**values) -> str:
        return ModelManager(Settings(cache_dir=cache_dir, device="cpu", **values)).chat_engine

    assert engine() == "llamacpp"
    assert engine(chat_model=str(tiny_llama_dir)) == "transformers", "a safetensors folder runs in transformers"
    assert engine(quantization="4bit") == "transformers", "bitsandbytes is a transformers path"
    assert engine(engine="transformers") == "transformers"
    assert engine(zero_gpu=True) == "transformers", "ZeroGPU runs transformers in its GPU calls"
    with pytest.raises(ModelLoadError, match="--engine llamacpp runs GGUF models"):
        engine(engine="llamacpp", chat_model=str(tiny_llama_dir))
    with pytest.raises(ModelLoadError, match="runs on the CPU without --quantization"):
        engine(engine="llamacpp", quantization="8bit")
    from lmdemo.models import manager as manager_module

    monkeypatch.setattr(manager_module, "llamacpp_problem", lambda: "llama-cpp-python is not usable (ImportError)")
    assert engine() == "transformers", "without llama-cpp-python, auto falls back to transformers"
    with pytest.raises(ModelLoadError, match="llama-cpp-python is not usable"):
        engine(engine="llamacpp")


def test_a_long_prompt_is_prefilled_in_chunks_between_the_tokens_of_running_replies(
    manager: ModelManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llama_cpp as lc

    sizes: list[int] = []
    decode = lc.llama_decode
    monkeypatch.setattr(lc, "llama_decode", lambda ctx, batch: (sizes.append(batch.n_tokens), decode(ctx, batch))[1])
    scheduler = LlamaCppScheduler(manager.gguf_chat().model, BatchingConfig(
        max_running=2, kv_cache_tokens=4096, prefill_chunk_tokens=32), 2)
    try:
        tokenizer = manager.gguf_chat().tokenizer
        running = scheduler.submit(prompt_ids(tokenizer, [{"role": "user", "content": "Tell me a long story."}]),
                                   400, GREEDY, threading.Event())
        next(running)
        long = prompt_ids(tokenizer, [{"role": "user", "content": "Summarise this. " + "The river flows. " * 60}])
        assert len(long) > 200
        sizes.clear()
        answer = scheduler.submit(long, 4, GREEDY, threading.Event())
        first = next(answer)
        assert first.text or first.completion_tokens
        assert max(sizes) <= 32 + 1, "no step holds more than a chunk of the prompt and the running reply's token"
        assert len(sizes) >= len(long) // 32, "the prompt went in over several steps"
        running.close()
        answer.close()
    finally:
        scheduler.close()
