"""Summaries two ways: extractive (central, non-redundant sentences) and abstractive (the chat model).

Extractive scores each sentence by its similarity to the whole document in encoder space,
with a lead bias, and picks with maximal marginal relevance so that the summary does not
repeat itself. Abstractive summarises long texts by map-reduce: each
chunk from the text splitter is summarised, then the partial summaries are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
from langchain_text_splitters import RecursiveCharacterTextSplitter

from lmdemo.errors import UserError
from lmdemo.models.types import SamplingParams
from lmdemo.text import clean_user_text

if TYPE_CHECKING:
    from lmdemo.models.backend import ChatBackend

Progress = Callable[[float, str], None]
Embed = Callable[[Sequence[str]], np.ndarray]

MAP_CHUNK_CHARS = 4000


def sentences(text: str) -> list[str]:
    """Sentences by pysbd's rules (abbreviations, decimals and initials handled)."""
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False)
    out = []
    for block in text.split("\n\n"):
        out += [s.strip() for s in segmenter.segment(block.replace("\n", " ")) if len(s.strip()) > 1]
    return out


def extractive(
    embed: Embed, text: str, n_sentences: int = 3, redundancy: float = 0.7, lead_bias: float = 2.0,
    min_words: int = 8,
) -> str:
    """The `n_sentences` most central sentences, chosen with MMR, in document order.

    Centrality is a sentence's cosine similarity to the document's mean embedding, damped by
    position (1 / (1 + lead_bias * i / n)): writers put the gist first. Sentences shorter than
    `min_words` are skipped unless nothing else is left. Tuned on aclsum-dev (bench/tasks.py).
    """
    parts = sentences(clean_user_text(text))
    if not parts:
        raise UserError("There is no text to summarise.")
    if len(parts) <= n_sentences:
        return " ".join(parts)
    vectors = embed(parts)
    centroid = vectors.mean(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    position = np.arange(len(parts)) / len(parts)
    relevance = (vectors @ centroid) / (1.0 + lead_bias * position)
    similarity = vectors @ vectors.T
    candidates = [i for i, part in enumerate(parts) if len(part.split()) >= min_words] or list(range(len(parts)))
    chosen: list[int] = []
    while len(chosen) < min(n_sentences, len(candidates)):
        penalty = similarity[:, chosen].max(axis=1) if chosen else np.zeros(len(parts))
        score = redundancy * relevance - (1 - redundancy) * penalty
        chosen.append(max((i for i in candidates if i not in chosen), key=lambda i: score[i]))
    return " ".join(parts[i] for i in sorted(chosen))


def _prompt(text: str, n_sentences: int, partial: bool) -> list[dict[str, str]]:
    what = "these partial summaries of one document" if partial else "this text"
    return [
        {"role": "system", "content": "You write accurate, concise summaries."},
        {"role": "user", "content": f"Summarise {what} in {n_sentences} sentences.\n\n{text}"},
    ]


def _generate(chat: ChatBackend, messages: list[dict[str, str]], params: SamplingParams) -> Iterator[str]:
    stream = chat.stream(messages, params)
    text = ""
    try:
        for chunk in stream:
            text += chunk.text
            yield text
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


def _complete(chat: ChatBackend, messages: list[dict[str, str]], params: SamplingParams) -> str:
    text = ""
    for text in _generate(chat, messages, params):
        pass
    return text


def abstractive(
    chat: ChatBackend,
    text: str,
    n_sentences: int = 3,
    progress: Progress | None = None,
    chunk_chars: int = MAP_CHUNK_CHARS,
) -> Iterator[str]:
    """Stream the final summary; texts longer than one chunk are map-reduced first."""
    report = progress or (lambda fraction, message: None)
    text = clean_user_text(text).strip()
    if not text:
        raise UserError("There is no text to summarise.")
    params = SamplingParams(temperature=0.0, max_new_tokens=60 * n_sentences + 40, repetition_penalty=1.0)
    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_chars, chunk_overlap=chunk_chars // 20)
    chunks = splitter.split_text(text)
    partial = len(chunks) > 1
    while len(chunks) > 1:
        summaries = []
        for i, chunk in enumerate(chunks):
            report(0.9 * i / len(chunks), f"summarising part {i + 1} of {len(chunks)}")
            summaries.append(_complete(chat, _prompt(chunk, n_sentences, False), params))
        chunks = splitter.split_text("\n\n".join(summaries)) or [""]
    report(0.9, "writing the summary")
    yield from _generate(chat, _prompt(chunks[0], n_sentences, partial), params)
    report(1.0, "done")
