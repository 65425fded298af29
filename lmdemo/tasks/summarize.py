"""Summaries two ways: extractive (central, non-redundant sentences) and abstractive (the chat model).

Extractive scores each sentence by its similarity to the whole document in encoder space and
by how frequent its words are in it, with a lead bias, and picks with maximal marginal relevance
so that the summary does not repeat itself. Abstractive summarises long texts by map-reduce: each
chunk from the text splitter is summarised, then the partial summaries are; each summary ends
after the sentences asked for, and the repetition guard ends one that loops or restates itself
(20 BBC articles, 3 sentences asked: 11 repeated a sentence or phrase and 17 restated one before).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_text_splitters import RecursiveCharacterTextSplitter

from lmdemo.errors import UserError
from lmdemo.models.types import SamplingParams
from lmdemo.sentences import SENTENCE_ENDINGS, reply_text
from lmdemo.text import STOPWORDS, clean_user_text
from lmdemo.words import HAN

if TYPE_CHECKING:
    from lmdemo.models.backend import ChatBackend

Progress = Callable[[float, str], None]
Embed = Callable[[Sequence[str]], np.ndarray]

MAP_CHUNK_CHARS = 4000
_LATIN = re.compile(r"[^\W\d_" + HAN + "]+")
_HAN = re.compile(f"[{HAN}]+")
_CODE_FENCE = re.compile(r"^```.*?^```[^\n]*$", re.MULTILINE | re.DOTALL)


@functools.cache
def _segmenter(language: str) -> Any:
    import pysbd

    return pysbd.Segmenter(language=language, clean=False)


def sentences(text: str) -> list[str]:
    """Sentences by pysbd's rules (abbreviations, decimals and initials handled), with its Chinese
    rules (。！？) for paragraphs in Chinese; fenced code blocks are left out."""
    out = []
    for block in _CODE_FENCE.sub("\n\n", text).split("\n\n"):
        segmenter = _segmenter("zh" if _HAN.search(block) else "en")
        out += [s.strip() for s in segmenter.segment(block.replace("\n", " ")) if len(s.strip()) > 1]
    return out


def _prose(sentence: str) -> bool:
    """A sentence of words that ends like one: not a formula, a table row, a heading or code."""
    letters = len(_LATIN.findall(sentence)) + sum(map(len, _HAN.findall(sentence)))
    symbols = sum(ch in "=+*/\\^_{}$|<>#`" for ch in sentence)
    return sentence[-1:] in SENTENCE_ENDINGS and letters >= 3 and symbols <= max(2, len(sentence) // 40)


def _terms(sentence: str) -> list[str]:
    """Content terms: words of 3+ letters that are not stopwords, and pairs of Chinese characters."""
    terms = [w for w in _LATIN.findall(sentence.lower()) if len(w) > 2 and w not in STOPWORDS]
    for run in _HAN.findall(sentence):
        terms += [run[i:i + 2] for i in range(len(run) - 1)] or [run]
    return terms


def _length(sentence: str) -> float:
    """Length in words, two Chinese characters counting as one."""
    return len(_LATIN.findall(sentence)) + sum(map(len, _HAN.findall(sentence))) / 2


def extractive(
    embed: Embed, text: str, n_sentences: int = 3, redundancy: float = 0.85, lead_bias: float = 2.0,
    min_words: int = 12, word_weight: float = 0.5,
) -> str:
    """The `n_sentences` most central sentences, chosen with MMR, in document order.

    Centrality mixes two views: a sentence's cosine similarity to the document's mean embedding,
    and (`word_weight`) the mean frequency of its content terms in the document, where a chosen
    sentence's terms then count for less (SumBasic), so the next pick covers something else.
    Both are damped by position (1 / (1 + lead_bias * i / n)): writers put the gist first.
    Only prose sentences are candidates (no formulas, table rows or code), and those shorter than
    `min_words` are skipped unless too few others are left. Tuned on
    aclsum-dev (bench/tasks.py): ROUGE-1 0.414 with embeddings alone, 0.422 with both.
    """
    parts = sentences(clean_user_text(text))
    if not parts:
        raise UserError("There is no text to summarise.")
    if len(parts) <= n_sentences:
        return " ".join(parts)
    vectors = embed(parts)
    centroid = vectors.mean(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    damping = 1.0 + lead_bias * np.arange(len(parts)) / len(parts)
    meaning = vectors @ centroid
    terms = [_terms(part) for part in parts]
    counts = Counter(term for sentence in terms for term in sentence)
    probability = {term: count / max(sum(counts.values()), 1) for term, count in counts.items()}
    similarity = vectors @ vectors.T
    prose = [i for i, part in enumerate(parts) if _prose(part)] or list(range(len(parts)))
    candidates = [i for i in prose if _length(parts[i]) >= min_words]
    if len(candidates) < n_sentences:  # a text of short sentences: any of them will do
        candidates = prose
    chosen: list[int] = []
    while len(chosen) < min(n_sentences, len(candidates)):
        wording = np.array([np.mean([probability[t] for t in ts]) if ts else 0.0 for ts in terms]) * 100
        relevance = ((1 - word_weight) * meaning + word_weight * wording) / damping
        penalty = similarity[:, chosen].max(axis=1) if chosen else np.zeros(len(parts))
        score = redundancy * relevance - (1 - redundancy) * penalty
        best = max((i for i in candidates if i not in chosen), key=lambda i: score[i])
        chosen.append(best)
        for term in set(terms[best]):
            probability[term] **= 2
    return " ".join(parts[i] for i in sorted(chosen))


def _prompt(text: str, n_sentences: int, partial: bool) -> list[dict[str, str]]:
    what = "these partial summaries of one document" if partial else "this text"
    return [
        {"role": "system", "content": "You write accurate, concise summaries."},
        {"role": "user", "content": f"Summarise {what} in {n_sentences} sentences.\n\n{text}"},
    ]


def _summary(chat: ChatBackend, messages: list[dict[str, str]], params: SamplingParams,
             n_sentences: int) -> Iterator[str]:
    """The summary as it grows, ended after the sentences asked for (the small model writes on
    and on) and with a whole sentence (the repetition guard may end it mid-sentence)."""
    return reply_text(chat.stream(messages, params), n_sentences)


def _complete(chat: ChatBackend, messages: list[dict[str, str]], params: SamplingParams, n_sentences: int) -> str:
    text = ""
    for text in _summary(chat, messages, params, n_sentences):
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
    params = SamplingParams(temperature=0.0, max_new_tokens=60 * n_sentences + 40, repetition_penalty=1.0,
                            repetition_guard=True, restatement_guard=True)
    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_chars, chunk_overlap=chunk_chars // 20)
    chunks = splitter.split_text(text)
    partial = len(chunks) > 1
    while len(chunks) > 1:
        summaries = []
        for i, chunk in enumerate(chunks):
            report(0.9 * i / len(chunks), f"summarising part {i + 1} of {len(chunks)}")
            summaries.append(_complete(chat, _prompt(chunk, n_sentences, False), params, n_sentences))
        chunks = splitter.split_text("\n\n".join(summaries)) or [""]
    report(0.9, "writing the summary")
    yield from _summary(chat, _prompt(chunks[0], n_sentences, partial), params, n_sentences)
    report(1.0, "done")
