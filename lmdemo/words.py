"""The words of a text in any script, for keyword search, citations and highlighting.

Latin-script text has spaces; Chinese has none, so its runs of Han characters are cut into words
by jieba. Over whitespace tokens BM25 saw a whole Chinese clause as one word and found the right
zh-news paragraph first for 0 of 300 queries (bench/retrieval.py).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator

from lmdemo.text import STOPWORDS

# Han characters (CJK unified ideographs, extension A, compatibility ideographs), as the body of a
# regex character class: every module that tells Chinese from other text uses this one.
HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RUN = re.compile(f"[{HAN}]+")
_KANA = re.compile(r"[\u3040-\u30ff]")
_WORD = re.compile(f"[{HAN}]+|" + r"\w+")
_JIEBA = threading.Lock()
_STEMMERS = threading.local()


def _jieba():
    """jieba, its dictionary loaded once (on first use, ~1 s)."""
    import jieba

    with _JIEBA:
        if not jieba.dt.initialized:
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
    return jieba


def _cut(run: str) -> list[str]:
    """The words of a run of Han characters, in order, covering it exactly."""
    return _jieba().lcut(run)


def has_han(text: str) -> bool:
    return _HAN_RUN.search(text) is not None


def is_chinese(text: str) -> bool:
    """Han characters and no kana: Chinese, not Japanese (which writes kanji among its kana)."""
    return has_han(text) and _KANA.search(text) is None


def segmented(text: str) -> str:
    """The text with spaces between the words of its Chinese runs, for keyword search (other text
    unchanged). jieba's search mode also gives the shorter words inside long ones (中华人民共和国:
    中华, 华人, 人民, 共和, 共和国, …): zh-news doc recall@1 0.90 against 0.86 with plain cuts."""
    if not has_han(text):
        return text
    return _HAN_RUN.sub(lambda m: " " + " ".join(_jieba().lcut_for_search(m.group(0))) + " ", text)


def keyword_text(text: str) -> str:
    """`segmented`, plus every pair of neighbouring Han characters, for BM25. A query typed as one
    run ("北京天安门广场集会") is cut differently from the same words inside a sentence; the
    pairs still match. zh-news doc recall@1 over whole paragraphs: 0.92 with jieba's search words,
    0.96 with the pairs added (bench/retrieval.py measures the app's passages)."""
    if not has_han(text):
        return text
    pairs = " ".join(run[i:i + 2] for run in _HAN_RUN.findall(text) for i in range(len(run) - 1))
    return f"{segmented(text)} {pairs}"


def words(text: str) -> Iterator[tuple[int, str]]:
    """(offset, word) for every word: Latin-script words as written, Chinese words from jieba."""
    for match in _WORD.finditer(text):
        if _HAN_RUN.fullmatch(match.group(0)):
            offset = match.start()
            for word in _cut(match.group(0)):
                yield offset, word
                offset += len(word)
        else:
            yield match.start(), match.group(0)


def _meaningful(word: str) -> bool:
    """A Chinese word of two characters or more, or another word of three letters or more that is not an
    English function word."""
    if _HAN_RUN.fullmatch(word):
        return len(word) >= 2
    return len(word) > 2 and word.lower() not in STOPWORDS


def content_words(text: str) -> set[str]:
    """The words of `text` that carry meaning, lower-cased."""
    return {word.lower() for _, word in words(text) if _meaningful(word)}


def _stemmer():
    """This thread's English stemmer (a PyStemmer object must not be shared between threads)."""
    stemmer = getattr(_STEMMERS, "stemmer", None)
    if stemmer is None:
        import Stemmer

        stemmer = _STEMMERS.stemmer = Stemmer.Stemmer("english")
    return stemmer


def terms(text: str) -> list[str]:
    """The content words of `text` in order, English ones stemmed (proposes, proposed → propos), so that
    counting them counts a concept however it is inflected; Chinese words are not inflected."""
    return _stemmer().stemWords([word.lower() for _, word in words(text) if _meaningful(word)])
