"""The GGUF chat model's final hidden state at a prompt's last token, read in llama.cpp.

This is how GPT-1 classified text: run the prompt through the decoder and put a linear head on the
last position's state. Few-shot classification uses it (`lmdemo/tasks/prompted_head.py`). The
context is llama.cpp's embeddings mode, on the weights the chat loop
already holds (no second copy), behind a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from lmdemo.models.backend import STATE_PROMPT_TOKENS
from lmdemo.models.llamacpp.model import LlamaCppModel
from lmdemo.models.loading import ModelLoadError

SEQUENCES = 16  # prompts read in one decode
# Their tokens together. In embeddings mode llama.cpp makes every token an output and keeps a logits
# row for each: ~100 MB at 256 tokens, 380 MB at 1024, no faster (75 ms per movie review either way).
BATCH_TOKENS = STATE_PROMPT_TOKENS


class LastTokenStates:
    """Reads prompts (token ids) into the model's normalised final hidden state at their last token.

    Up to SEQUENCES prompts go into one `llama_decode`; a prompt's state then differs from reading
    it alone by float rounding (cosine > 0.99).
    """

    def __init__(self, model: LlamaCppModel, threads: int) -> None:
        import llama_cpp as lc

        params = lc.llama_context_default_params()
        params.n_ctx = params.n_batch = params.n_ubatch = BATCH_TOKENS
        params.n_seq_max = SEQUENCES
        params.kv_unified = True  # the prompts share the cells; each decode starts from an empty cache
        params.n_threads = params.n_threads_batch = threads
        params.embeddings = True
        params.pooling_type = lc.LLAMA_POOLING_TYPE_NONE  # each prompt's state is read at its last token
        params.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_ENABLED
        params.no_perf = True
        self._ctx = lc.llama_init_from_model(model.model, params)
        if not self._ctx:
            raise ModelLoadError("llama.cpp could not create a context for hidden states")
        self._longest = min(BATCH_TOKENS, model.context_length)
        self._width = int(lc.llama_model_n_embd(model.model))
        self._memory = lc.llama_get_memory(self._ctx)
        self._batch = lc.llama_batch_init(BATCH_TOKENS, 0, 1)
        self._lock = threading.Lock()

    def read(self, prompts: Sequence[Sequence[int]]) -> np.ndarray:
        """One row per prompt (float32, the model's width)."""
        rows = np.empty((len(prompts), self._width), dtype=np.float32)
        cut = [list(p)[-self._longest:] for p in prompts]
        if not all(cut):
            raise ValueError("an empty prompt has no last token")
        with self._lock:
            if not self._ctx:
                raise RuntimeError("the hidden-state context is closed")
            start = 0
            while start < len(cut):
                group = [cut[start]]
                while (start + len(group) < len(cut) and len(group) < SEQUENCES
                       and sum(map(len, group)) + len(cut[start + len(group)]) <= BATCH_TOKENS):
                    group.append(cut[start + len(group)])
                rows[start:start + len(group)] = self._decode(group)
                start += len(group)
        return rows

    def _decode(self, group: list[list[int]]) -> np.ndarray:
        import llama_cpp as lc

        lc.llama_memory_clear(self._memory, True)
        n, last = 0, []
        for seq, ids in enumerate(group):
            for position, token in enumerate(ids):
                self._batch.token[n] = token
                self._batch.pos[n] = position
                self._batch.n_seq_id[n] = 1
                self._batch.seq_id[n][0] = seq
                self._batch.logits[n] = True  # llama.cpp's embeddings mode outputs every token anyway
                n += 1
            last.append(n - 1)
        self._batch.n_tokens = n
        status = lc.llama_decode(self._ctx, self._batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")
        return np.stack([np.ctypeslib.as_array(lc.llama_get_embeddings_ith(self._ctx, i), shape=(self._width,))
                         for i in last])

    def close(self) -> None:
        import llama_cpp as lc

        with self._lock:
            if self._ctx:
                lc.llama_batch_free(self._batch)
                lc.llama_free(self._ctx)
                self._ctx = None
