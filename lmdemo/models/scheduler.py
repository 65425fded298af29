"""Continuous batching of concurrent chat requests on one local model.

transformers' `ContinuousBatchingManager` runs one generation loop in a background thread:
every step it decodes one token for each running request and prefills newly arrived prompts
in the same forward pass, so eight users cost about as much per step as one. This module adds
what a shared demo needs around it: a bounded number of requests (a clear "busy" error past
it), per-request sampling settings, streaming text per request, and cancellation. The manager
has no repetition penalty, so the rare request that asks for one runs unbatched beside the loop
(`generate`), in the same slots.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from lmdemo.limits import Slots
from lmdemo.models import batch_sampling
from lmdemo.models.generation import stream_ids
from lmdemo.models.memory import is_out_of_memory
from lmdemo.models.types import BatchingConfig, Chunk, FinishReason, SamplingParams


class _Decoder:
    """Turns a growing list of token ids into newly completed text (no half characters).

    Only a short window is decoded each step: the tokens not yet sent, after the few sent last
    (a tokenizer needs them for spaces and for characters split over tokens). Decoding the whole
    reply every step cost time growing with the square of its length. This is vLLM's scheme.
    """

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._prefix = 0  # where the window starts
        self._read = 0  # tokens whose text has been sent

    def feed(self, tokens: Sequence[int], final: bool = False) -> str:
        sent = self._tokenizer.decode(tokens[self._prefix:self._read], skip_special_tokens=True)
        text = self._tokenizer.decode(tokens[self._prefix:], skip_special_tokens=True)
        if len(text) <= len(sent) or (text.endswith("\ufffd") and not final):
            return ""
        self._prefix, self._read = self._read, len(tokens)
        return text[len(sent):]


class BatchScheduler:
    """Accepts chat requests from many threads and streams each reply from one batched loop."""

    def __init__(self, model: Any, tokenizer: Any, stop_ids: Sequence[int], config: BatchingConfig) -> None:
        from transformers import GenerationConfig
        from transformers.generation.configuration_utils import ContinuousBatchingConfig

        self._model = model
        self._vocab = int(model.config.get_text_config().vocab_size)
        self._tokenizer = tokenizer
        self._stop_ids = list(stop_ids)
        self._config = config
        self._slots = Slots(config.max_running, config.max_waiting)
        self._routes: dict[str, queue.SimpleQueue] = {}
        self._routes_lock = threading.Lock()
        self._counter = 0
        # Sampling with per-request temperature/top-k/top-p; greedy is top-k 1.
        generation = GenerationConfig(
            do_sample=True,
            temperature=0.7,
            top_k=50,
            top_p=0.9,
            max_new_tokens=256,
            eos_token_id=self._stop_ids,
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self._stop_ids[0],
        )
        on_cpu = model.device.type == "cpu"
        batching = ContinuousBatchingConfig(
            num_blocks=max(2, config.kv_cache_tokens // 256) if on_cpu else None,
            max_batch_tokens=config.max_batch_tokens if on_cpu else None,
            max_requests_per_batch=config.max_running,
            per_request_processors=True,
            auto_switch_to_flash=False,
            allow_block_sharing=False,
        )
        self._manager = model.init_continuous_batching(
            generation_config=generation, continuous_batching_config=batching
        )
        if on_cpu:
            batch_sampling.install(self._manager)
        # The loop thread inherits daemon status from the thread that starts it: starting it from
        # a daemon thread lets the process exit (Ctrl-C, the end of a test) without a stop call.
        starter = threading.Thread(target=self._manager.start, daemon=True)
        starter.start()
        starter.join()
        self._router = threading.Thread(target=self._route, name="lmdemo-batch-router", daemon=True)
        self._router.start()

    def _route(self) -> None:
        """Hand each result from the manager's shared output queue to the request that waits for it."""
        while self._manager.is_running():
            result = self._manager.get_result(timeout=0.1)
            if result is None:
                continue
            with self._routes_lock:
                target = self._routes.get(result.request_id)
            if target is not None:
                target.put(result)
        with self._routes_lock:
            for target in self._routes.values():
                target.put(None)

    def _request_kwargs(self, params: SamplingParams) -> dict[str, Any]:
        if params.temperature <= 0:
            return {"temperature": 1.0, "top_k": 1, "top_p": 1.0}
        top_k = min(int(params.top_k), self._vocab) if params.top_k > 0 else self._vocab
        return {"temperature": float(params.temperature), "top_k": top_k, "top_p": float(params.top_p)}

    def submit(
        self, prompt: Sequence[int], max_new_tokens: int, params: SamplingParams, cancel: threading.Event
    ) -> Iterator[Chunk]:
        """Stream the reply to one prompt; closing the iterator cancels the request.

        Raises ServerBusyError (on the first `next`) when every slot is taken.
        """
        with self._slots.take():
            if not self._manager.is_running():
                raise RuntimeError("the batching loop has stopped; restart the app")
            if params.repetition_penalty != 1.0:
                yield from stream_ids(
                    self._model, self._tokenizer, list(prompt), max_new_tokens, params, cancel, self._stop_ids
                )
            else:
                yield from self._batched(list(prompt), max_new_tokens, params, cancel)

    def _batched(
        self, prompt: list[int], max_new_tokens: int, params: SamplingParams, cancel: threading.Event
    ) -> Iterator[Chunk]:
        inbox: queue.SimpleQueue = queue.SimpleQueue()
        with self._routes_lock:
            self._counter += 1
            request_id = f"lmdemo-{self._counter}"
            self._routes[request_id] = inbox
        decoder = _Decoder(self._tokenizer)
        tokens: list[int] = []
        finished = False
        try:
            self._manager.add_request(
                prompt,
                request_id=request_id,
                max_new_tokens=max_new_tokens,
                streaming=True,
                eos_token_id=self._stop_ids,
                **self._request_kwargs(params),
            )
            while not finished:
                if cancel.is_set():
                    yield Chunk("", len(tokens), len(prompt), "cancelled")
                    return
                try:
                    result = inbox.get(timeout=0.05)
                except queue.Empty:
                    continue
                if result is None:
                    raise RuntimeError("the batching loop stopped while generating")
                if result.error:
                    if is_out_of_memory(result.error):
                        raise torch.OutOfMemoryError(result.error)
                    raise RuntimeError(f"generation failed: {result.error}")
                tokens = result.generated_tokens
                finished = result.is_finished()
                text = decoder.feed(tokens, final=finished)
                if text:
                    yield Chunk(text, len(tokens), len(prompt))
            reason: FinishReason = "stop" if tokens and tokens[-1] in self._stop_ids else "length"
            yield Chunk("", len(tokens), len(prompt), reason)
        finally:
            if not finished:
                self._manager.cancel_request(request_id)
            with self._routes_lock:
                self._routes.pop(request_id, None)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the loop; requests still streaming end with an error."""
        started = time.perf_counter()
        self._manager.stop(block=True, timeout=timeout)
        self._router.join(timeout=max(0.1, timeout - (time.perf_counter() - started)))
