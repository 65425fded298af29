"""Continuous batching on llama.cpp's batch API: one `llama_decode` per step for every running reply.

One loop thread owns the llama.cpp context. Each running request is a sequence id; each step puts
the last sampled token of every decoding sequence into one batch, fills what is left of the batch
with prompt tokens of newly admitted requests (a smaller chunk while others decode, so a long
prompt does not stall their replies), decodes, and samples one token per sequence that asked for
logits with that request's own sampler chain (repetition penalty, top-k, top-p, temperature).
Stop or a closed stream removes the sequence and its KV cells at once. Text is decoded
incrementally from the tokens' bytes: a character split across tokens is emitted whole.

Each running reply has a KV cache of its own (`kv_cache_tokens / max_running` cells; llama.cpp's
non-unified KV): with the q8_0 cache and flash attention on the packaged Q4_1 file, a greedy reply is
then the same whether it runs alone or beside others (the default f16 cache's ordinary attention, and
the re-quantized copy's kernels, take other paths for other batch shapes, so there it may drift). With one
pool shared by all replies (unified KV), a reply's cells interleave with the others' and the
floating-point sums in attention run in another order, so greedy replies drifted apart after a
few tokens, sometimes from the first (upstream issues #6583, #7052), and batched steps were no
faster once the batch lists its sequences in id order (llama.cpp otherwise splits it).
"""

from __future__ import annotations

import codecs
import logging
import queue
import random
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lmdemo.limits import Slots
from lmdemo.models.estimate import LLAMACPP_KV_BYTES
from lmdemo.models.llamacpp.model import LlamaCppModel
from lmdemo.models.loading import ModelLoadError
from lmdemo.models.types import BatchingConfig
from lmdemo.models.types import Chunk, FinishReason, SamplingParams

log = logging.getLogger(__name__)

PENALTY_LAST_N = 256  # tokens the repetition penalty looks back over (prompt included)
# How keys and values are stored (`BatchingConfig.kv_cache`), as (ggml type, flash attention):
# - f16 with llama.cpp's ordinary attention, the default: prompts read faster. On a 2-core Xeon, a
#   900-token Document QA prompt took 2.6 s against 3.8 s with q8_0 (medians of 4 interleaved rounds),
#   decoding after it ran at 72 against 68 tok/s; 8 short chats at once 186 against 203 tok/s.
#   (f16 with flash attention read the prompt in 2.1 s but then decoded at 35 tok/s.)
# - q8_0, which needs flash attention: half the memory (8 replies of 2048 tokens: 191 MB against
#   360 MB for the packaged model); perplexity on bench/chat_speed.py's paragraph was the same as
#   with f16 (2.973 against 2.974, repeated 3 times).
KV_TYPES = {"f16": (1, False), "q8_0": (8, True)}  # GGML_TYPE_F16, GGML_TYPE_Q8_0


@dataclass
class _Request:
    prompt: list[int]
    max_new: int
    params: SamplingParams
    outbox: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    cancelled: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Sequence:
    request: _Request
    seq_id: int
    sampler: Any
    done: int = 0  # prompt tokens already decoded into the cache
    last: int | None = None  # the sampled token to decode next
    generated: int = 0
    row: int = -1  # where this sequence's logits are in the current batch (-1: none this step)
    text: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))

    @property
    def position(self) -> int:
        return len(self.request.prompt) + self.generated - 1


def _sampler_chain(params: SamplingParams, n_vocab: int, prompt: Sequence[int]) -> Any:
    """This request's sampling: penalties, then greedy, or top-k → top-p → temperature → a seeded draw."""
    import llama_cpp as lc

    chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
    if params.repetition_penalty != 1.0:
        lc.llama_sampler_chain_add(
            chain, lc.llama_sampler_init_penalties(n_vocab, PENALTY_LAST_N, float(params.repetition_penalty), 0.0, 0.0)
        )
    if params.temperature <= 0:
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
    else:
        if params.top_k > 0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_k(int(params.top_k)))
        if params.top_p < 1.0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_p(float(params.top_p), 1))
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_temp(float(params.temperature)))
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_dist(random.getrandbits(32)))
    if params.repetition_penalty != 1.0:
        for token in prompt[-PENALTY_LAST_N:]:
            lc.llama_sampler_accept(chain, token)
    return chain


class LlamaCppScheduler:
    """Accepts chat requests from many threads and streams each reply from one llama.cpp loop."""

    def __init__(self, model: LlamaCppModel, config: BatchingConfig, threads: int) -> None:
        import llama_cpp as lc

        self._model = model
        self._config = config
        self.context = min(model.context_length, config.kv_cache_tokens // config.max_running)
        params = lc.llama_context_default_params()
        params.n_ctx = self.context * config.max_running
        params.n_batch = params.n_ubatch = config.max_batch_tokens
        params.n_seq_max = config.max_running
        params.n_outputs_max = config.max_running  # logits for one token per sequence, not for every prompt token
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = False  # a cache per reply (see the module's docstring)
        params.type_k, flash = KV_TYPES[config.kv_cache]
        params.type_v = params.type_k
        params.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash else lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.no_perf = True
        self._ctx = lc.llama_init_from_model(model.model, params)
        if not self._ctx:
            raise ModelLoadError(f"llama.cpp could not create {config.max_running} caches of {self.context} tokens")
        self.cache_bytes = int(lc.llama_n_ctx(self._ctx) * model.kv_values_per_token * LLAMACPP_KV_BYTES[config.kv_cache])
        log.info("llama.cpp cache: %d replies of %d tokens, %s keys and values, %.0f MB",
                 config.max_running, self.context, config.kv_cache, self.cache_bytes / 2**20)
        self._memory = lc.llama_get_memory(self._ctx)
        self._batch = lc.llama_batch_init(config.max_batch_tokens, 0, 1)
        size = config.max_batch_tokens
        self._tokens = np.ctypeslib.as_array(self._batch.token, shape=(size,))
        self._positions = np.ctypeslib.as_array(self._batch.pos, shape=(size,))
        self._logits = np.ctypeslib.as_array(self._batch.logits, shape=(size,))
        np.ctypeslib.as_array(self._batch.n_seq_id, shape=(size,))[:] = 1
        self._slots = Slots(config.max_running, config.max_waiting)
        self._waiting: deque[_Request] = deque()
        self._running: list[_Sequence] = []
        self._free_ids = set(range(config.max_running))
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lmdemo-llamacpp-loop", daemon=True)
        self._thread.start()

    def submit(
        self, prompt: Sequence[int], max_new_tokens: int, params: SamplingParams, cancel: threading.Event
    ) -> Iterator[Chunk]:
        """Stream the reply to one prompt; closing the iterator cancels the request.

        Raises ServerBusyError (on the first `next`) when every slot is taken.
        """
        with self._slots.take():
            if not self._thread.is_alive():
                raise RuntimeError("the llama.cpp loop has stopped; restart the app")
            request = _Request(list(prompt), max_new_tokens, params)
            with self._lock:
                self._waiting.append(request)
            self._wake.set()
            finished = False
            try:
                while True:
                    if cancel.is_set():
                        yield Chunk("", 0, len(request.prompt), "cancelled")
                        return
                    try:
                        item = request.outbox.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    if isinstance(item, BaseException):
                        raise item
                    finished = item.finish_reason is not None
                    yield item
                    if finished:
                        return
            finally:
                if not finished:
                    request.cancelled.set()
                    self._wake.set()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the loop and free the context; requests still streaming end with an error."""
        import llama_cpp as lc

        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        if not self._thread.is_alive() and self._ctx:
            lc.llama_batch_free(self._batch)
            lc.llama_free(self._ctx)
            self._ctx = None

    # --- the loop thread -------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while not self._stopping.is_set():
                self._drop_cancelled()
                self._admit()
                if not self._running:
                    self._wake.wait(0.1)
                    self._wake.clear()
                    continue
                self._step()
        except BaseException as error:  # every waiting client hears of it
            log.exception("the llama.cpp loop failed")
            failure = RuntimeError(f"generation failed: {error}")
            for sequence in self._running:
                sequence.request.outbox.put(failure)
            with self._lock:
                for request in self._waiting:
                    request.outbox.put(failure)
        finally:
            for sequence in list(self._running):
                self._free(sequence)
            if self._stopping.is_set():
                failure = RuntimeError("the llama.cpp loop has stopped")
                with self._lock:
                    for request in self._waiting:
                        request.outbox.put(failure)

    def _admit(self) -> None:
        """First come, first served, while a sequence (and so its cache) is free."""
        with self._lock:
            while self._waiting and self._free_ids:
                request = self._waiting.popleft()
                sampler = _sampler_chain(request.params, self._model.n_vocab, request.prompt)
                seq_id = min(self._free_ids)
                self._free_ids.remove(seq_id)
                self._running.append(_Sequence(request, seq_id, sampler))
        # llama.cpp splits a batch whose sequence ids do not ascend into one piece per sequence: keep the order.
        self._running.sort(key=lambda sequence: sequence.seq_id)

    def _drop_cancelled(self) -> None:
        for sequence in [s for s in self._running if s.request.cancelled.is_set()]:
            self._free(sequence)
        with self._lock:
            self._waiting = deque(r for r in self._waiting if not r.cancelled.is_set())

    def _free(self, sequence: _Sequence) -> None:
        """Forget a sequence: its KV cells, its sampler, its id."""
        import llama_cpp as lc

        lc.llama_memory_seq_rm(self._memory, sequence.seq_id, -1, -1)
        lc.llama_sampler_free(sequence.sampler)
        self._running.remove(sequence)
        with self._lock:
            self._free_ids.add(sequence.seq_id)

    def _step(self) -> None:
        """Build one batch (decode tokens first, then prompt chunks), decode it, sample."""
        import llama_cpp as lc

        n = 0
        for sequence in self._running:
            sequence.row = -1
            if sequence.last is not None:
                self._put(n, sequence.last, sequence.position, sequence.seq_id, True)
                sequence.row = n
                n += 1
        budget = self._config.max_batch_tokens - n
        if n:
            budget = min(budget, self._config.prefill_chunk_tokens)
        for sequence in self._running:
            if sequence.last is not None or budget <= 0:
                continue
            prompt = sequence.request.prompt
            take = min(budget, len(prompt) - sequence.done)
            for offset in range(take):
                position = sequence.done + offset
                self._put(n + offset, prompt[position], position, sequence.seq_id, position == len(prompt) - 1)
            sequence.done += take
            if sequence.done == len(prompt):
                sequence.row = n + take - 1
            n += take
            budget -= take
        self._batch.n_tokens = n
        status = lc.llama_decode(self._ctx, self._batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")
        for sequence in [s for s in self._running if s.row >= 0]:
            token = lc.llama_sampler_sample(sequence.sampler, self._ctx, sequence.row)
            self._emit(sequence, token)

    def _put(self, i: int, token: int, position: int, seq_id: int, logits: bool) -> None:
        self._tokens[i] = token
        self._positions[i] = position
        self._batch.seq_id[i][0] = seq_id
        self._logits[i] = logits

    def _emit(self, sequence: _Sequence, token: int) -> None:
        """Stream the new token's text; end the reply at an end-of-generation token or the token limit."""
        request = sequence.request
        sequence.generated += 1
        reason: FinishReason | None = None
        if self._model.is_end(token):
            reason = "stop"
            text = sequence.text.decode(b"", final=True)
        else:
            reason = "length" if sequence.generated >= request.max_new else None
            text = sequence.text.decode(self._model.piece(token), final=reason is not None)
        if text:
            request.outbox.put(Chunk(text, sequence.generated, len(request.prompt)))
        if reason is None:
            sequence.last = token
            return
        request.outbox.put(Chunk("", sequence.generated, len(request.prompt), reason))
        self._free(sequence)
