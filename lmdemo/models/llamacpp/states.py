"""The GGUF chat model's final hidden state at a prompt's last token, read in llama.cpp.

This is how GPT-1 classified text: run the prompt through the decoder and put a linear head on the
last position's state. Few-shot classification uses it (`lmdemo/tasks/prompted_head.py`). The
context is llama.cpp's embeddings mode with last-token pooling, on the weights the chat loop
already holds (no second copy); it has one sequence and a lock, so prompts are read one at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from lmdemo.models.backend import STATE_PROMPT_TOKENS
from lmdemo.models.llamacpp.model import LlamaCppModel
from lmdemo.models.loading import ModelLoadError


class LastTokenStates:
    """Reads prompts (token ids) into the model's normalised final hidden state at their last token."""

    def __init__(self, model: LlamaCppModel, threads: int) -> None:
        import llama_cpp as lc

        self._model = model
        params = lc.llama_context_default_params()
        params.n_ctx = params.n_batch = params.n_ubatch = min(STATE_PROMPT_TOKENS, model.context_length)
        params.n_seq_max = 1
        params.n_threads = params.n_threads_batch = threads
        params.embeddings = True
        params.pooling_type = lc.LLAMA_POOLING_TYPE_LAST
        params.no_perf = True
        self._ctx = lc.llama_init_from_model(model.model, params)
        if not self._ctx:
            raise ModelLoadError("llama.cpp could not create a context for hidden states")
        self._size = int(params.n_ctx)
        self._width = int(lc.llama_model_n_embd(model.model))
        self._memory = lc.llama_get_memory(self._ctx)
        self._batch = lc.llama_batch_init(self._size, 0, 1)
        self._lock = threading.Lock()

    def read(self, prompts: Sequence[Sequence[int]]) -> np.ndarray:
        """One row per prompt (float32, the model's width)."""
        import llama_cpp as lc

        rows = np.empty((len(prompts), self._width), dtype=np.float32)
        with self._lock:
            for row, prompt in enumerate(prompts):
                ids = list(prompt)[-self._size:]
                lc.llama_memory_clear(self._memory, True)
                for i, token in enumerate(ids):
                    self._batch.token[i] = token
                    self._batch.pos[i] = i
                    self._batch.n_seq_id[i] = 1
                    self._batch.seq_id[i][0] = 0
                    self._batch.logits[i] = True  # embeddings mode wants every position's output
                self._batch.n_tokens = len(ids)
                status = lc.llama_decode(self._ctx, self._batch)
                if status != 0:
                    raise RuntimeError(f"llama_decode returned {status}")
                rows[row] = np.ctypeslib.as_array(lc.llama_get_embeddings_seq(self._ctx, 0), shape=(self._width,))
        return rows

    def close(self) -> None:
        import llama_cpp as lc

        with self._lock:
            if self._ctx:
                lc.llama_batch_free(self._batch)
                lc.llama_free(self._ctx)
                self._ctx = None
