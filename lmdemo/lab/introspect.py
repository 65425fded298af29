"""What the models compute, as plain numbers: tokens, next-token distributions, attention, embeddings.

Next-token probabilities are softmax(W·h_t / T) over the whole vocabulary, then restricted
to the top-k and top-p set and renormalised: exactly the distribution `generate` samples from.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Token:
    """A token as the vocabulary spells it (`text`), as a person reads it (`shown`), and why, when odd."""

    text: str
    id: int
    special: bool
    shown: str = ""
    note: str = ""


@lru_cache(maxsize=1)
def _byte_of_char() -> dict[str, int]:
    """GPT-2's byte-level BPE spells each byte as a printable character (bytes that are not printable
    get the characters from U+0100 on, in order); this undoes it."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted = iter(range(256, 512))
    return {chr(byte if byte in printable else next(shifted)): byte for byte in range(256)}


def _readable(tokenizer: Any, spelled: str, special: bool) -> tuple[str, str]:
    """What a token says: byte-level BPE pieces decoded to text (a piece of a character shown as
    its bytes), WordPiece's [UNK] explained."""
    if special:
        return spelled, ("not in the vocabulary: the model sees only 'unknown' here"
                         if spelled == getattr(tokenizer, "unk_token", None) else "")
    decoder = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
    if type(decoder).__name__ != "ByteLevel":
        return spelled, ""
    table = _byte_of_char()
    raw = bytes(table[ch] for ch in spelled if ch in table)
    try:
        return raw.decode("utf-8"), ""
    except UnicodeDecodeError:
        return " ".join(f"{b:02x}" for b in raw), "bytes of a character split over tokens"


def tokens(tokenizer: Any, text: str) -> list[Token]:
    """The tokens the model sees for `text`, special tokens included (as the model adds them)."""
    ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    special = set(tokenizer.all_special_ids)
    found = []
    for i in ids:
        spelled = tokenizer.convert_ids_to_tokens(i)
        shown, note = _readable(tokenizer, spelled, i in special)
        found.append(Token(spelled, int(i), i in special, shown, note))
    return found


def sampling_distribution(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """The probabilities sampling draws from; temperature 0 puts all mass on the argmax."""
    logits = logits.float()
    if temperature <= 0:
        probs = torch.zeros_like(logits)
        probs[logits.argmax()] = 1.0
        return probs
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_k and top_k > 0:
        kth = torch.topk(probs, min(top_k, probs.numel())).values[-1]
        probs = torch.where(probs >= kth, probs, torch.zeros_like(probs))
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        cumulative = torch.cumsum(sorted_probs, dim=-1) / sorted_probs.sum()
        keep = cumulative - sorted_probs / sorted_probs.sum() < top_p
        mask = torch.zeros_like(probs, dtype=torch.bool)
        mask[order[keep]] = True
        probs = torch.where(mask, probs, torch.zeros_like(probs))
    return probs / probs.sum()


def next_token(model: Any, tokenizer: Any, prompt: str, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, show: int = 10) -> list[dict[str, Any]]:
    """The `show` most likely next tokens with their sampling probability and raw probability."""
    ids = tokenizer(prompt, return_tensors="pt").to(model.device)
    with torch.inference_mode():
        logits = model(**ids).logits[0, -1]
    raw = torch.softmax(logits.float(), dim=-1)
    probs = sampling_distribution(logits, temperature, top_k, top_p)
    top = torch.topk(probs if temperature > 0 else raw, show)
    return [
        {"token": tokenizer.decode([int(i)]), "id": int(i), "probability": float(probs[i]), "raw": float(raw[i])}
        for i in top.indices
    ]


def attention(model: Any, tokenizer: Any, text: str, layer: int, head: int | None) -> tuple[list[str], np.ndarray]:
    """Token strings and the attention matrix of one layer (one head, or the head average).

    The model must use eager attention: fused kernels do not return the weights.
    """
    ids = tokenizer(text, return_tensors="pt").to(model.device)
    with torch.inference_mode():
        out = model(**ids, output_attentions=True)
    layers = out.attentions
    if not 0 <= layer < len(layers):
        raise ValueError(f"layer must be between 0 and {len(layers) - 1}")
    weights = layers[layer][0].float()
    if head is not None:
        if not 0 <= head < weights.shape[0]:
            raise ValueError(f"head must be between 0 and {weights.shape[0] - 1}")
        weights = weights[head]
    else:
        weights = weights.mean(dim=0)
    names = tokenizer.convert_ids_to_tokens(ids["input_ids"][0].tolist())
    return names, weights.cpu().numpy()


def similarity_and_projection(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosine-similarity matrix of normalised vectors and their 2-D PCA projection."""
    similarity = vectors @ vectors.T
    centred = vectors - vectors.mean(axis=0)
    if len(vectors) < 2:
        return similarity, np.zeros((len(vectors), 2))
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    basis = components[:2].T
    projection = centred @ basis
    if projection.shape[1] < 2:
        projection = np.hstack([projection, np.zeros((len(vectors), 2 - projection.shape[1]))])
    return similarity, projection
