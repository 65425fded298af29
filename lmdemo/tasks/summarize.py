"""Summaries two ways: extractive (the sentences covering the text's recurring concepts) and abstractive
(the chat model).

Extractive needs no model: it counts the concepts (content words and pairs of them) the text comes
back to and picks the sentences that cover most of them, each adding new ones. Abstractive summarises long texts by map-reduce: each
chunk from the text splitter is summarised, then the partial summaries are; each summary ends
after the sentences asked for, and the repetition guard ends one that loops or restates itself
(20 BBC articles, 3 sentences asked: 11 repeated a sentence or phrase and 17 restated one before).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from langchain_text_splitters import RecursiveCharacterTextSplitter

from lmdemo.errors import UserError
from lmdemo.models.types import SamplingParams
from lmdemo.sentences import SENTENCE_ENDINGS, reply_text
from lmdemo.text import clean_user_text
from lmdemo.words import HAN, terms

if TYPE_CHECKING:
    from lmdemo.models.backend import ChatBackend

Progress = Callable[[float, str], None]

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


def _length(sentence: str) -> float:
    """Length in words, two Chinese characters counting as one."""
    return len(_LATIN.findall(sentence)) + sum(map(len, _HAN.findall(sentence))) / 2


def extractive(
    text: str, n_sentences: int = 3, lead_bias: float = 2.0, length_power: float = 0.6, min_words: int = 12,
    min_count: int = 2,
) -> str:
    """The `n_sentences` sentences that cover most of what the text keeps coming back to, in document order.

    A concept is a content word (`lmdemo.words.terms`: English stemmed, Chinese cut by jieba) or a pair of
    neighbouring ones, weighted by the number of sentences it occurs in, if `min_count` or more. Each pick
    is the sentence whose concepts not yet in the summary weigh most, divided by its length **
    `length_power` (a long sentence covers more but reads longer) and damped by position
    (1 + lead_bias * i / n: writers put the gist first); a covered concept counts no more, so no pick
    repeats another. This is the concept-coverage model of Gillick & Favre (2009), solved greedily for a
    number of sentences. Only prose sentences are candidates (no formulas, table rows or code), and those
    shorter than `min_words` are skipped unless too few others are left. aclsum-dev (bench/tasks.py)
    ROUGE-1: 0.432 (settings near these 0.429-0.434), lead-3 0.400; encoder centrality with word
    frequency and MMR, which this replaced, 0.422.
    """
    parts = sentences(clean_user_text(text))
    if not parts:
        raise UserError("There is no text to summarise.", zh="没有可以摘要的文字。")
    if len(parts) <= n_sentences:
        return " ".join(parts)
    concepts = []
    for part in parts:
        words = terms(part)
        concepts.append(set(words) | set(zip(words, words[1:])))
    counts = Counter(concept for found in concepts for concept in found)
    weight = {concept: count for concept, count in counts.items() if count >= min_count}
    prose = [i for i, part in enumerate(parts) if _prose(part)] or list(range(len(parts)))
    candidates = [i for i in prose if _length(parts[i]) >= min_words]
    if len(candidates) < n_sentences:  # a text of short sentences: any of them will do
        candidates = prose

    def gain(i: int) -> float:
        new = sum(weight.get(concept, 0) for concept in concepts[i] - covered)
        return new / max(_length(parts[i]), 1.0) ** length_power / (1.0 + lead_bias * i / len(parts))

    chosen: list[int] = []
    covered: set = set()
    while len(chosen) < min(n_sentences, len(candidates)):
        best = max((i for i in candidates if i not in chosen), key=gain)
        chosen.append(best)
        covered |= concepts[best]
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
        raise UserError("There is no text to summarise.", zh="没有可以摘要的文字。")
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
