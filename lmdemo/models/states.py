"""A causal LM's final hidden state at each prompt's last token, read in transformers.

This is how GPT-1 classified text: run the prompt through the decoder and put a linear head on the
last position's state; few-shot classification uses it (`lmdemo/tasks/prompted_head.py`). Prompts
are read in left-padded batches of similar length, with positions counted from each prompt's first
real token, so a prompt reads the same alone or beside others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

STATE_PROMPT_TOKENS = 256  # a longer prompt keeps its last tokens (few-shot prompts cut the text to 600 characters)
BATCH = 16


def last_token_states(model: Any, tokenizer: Any, prompts: Sequence[str]) -> np.ndarray:
    """One float32 row per prompt: the last layer's (normalised) state at its last token."""
    import torch

    ids = [tokenizer(p)["input_ids"][-STATE_PROMPT_TOKENS:] for p in prompts]
    if not all(ids):
        raise ValueError("an empty prompt has no last token")
    rows = np.empty((len(ids), model.config.hidden_size), dtype=np.float32)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    with torch.inference_mode():
        for start in range(0, len(order), BATCH):
            group = order[start:start + BATCH]
            width = max(len(ids[i]) for i in group)
            tokens = torch.zeros((len(group), width), dtype=torch.long)
            mask = torch.zeros((len(group), width), dtype=torch.long)
            for row, i in enumerate(group):
                tokens[row, width - len(ids[i]):] = torch.tensor(ids[i])
                mask[row, width - len(ids[i]):] = 1
            positions = (mask.cumsum(1) - 1).clamp(min=0)
            out = model(input_ids=tokens.to(model.device), attention_mask=mask.to(model.device),
                        position_ids=positions.to(model.device), output_hidden_states=True, logits_to_keep=1)
            rows[group] = out.hidden_states[-1][:, -1].float().cpu().numpy()
    return rows
