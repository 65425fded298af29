"""Grounded answers: the prompt with numbered passages, and the citations read back out.

Small models cite unreliably and invent, so citations are checked: a marker [n] counts only if
passage n helps back its sentence (holds most of what it says beyond the question), and a sentence
without a valid marker cites the passage that backs it, if one does. Every cited source therefore
backs its sentence, and the sentences nothing backs are counted (auto mode leaves them out).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from lmdemo.docqa.index import Hit
from lmdemo.docqa.splitting import Passage
from lmdemo.models.types import Message
from lmdemo.sentences import SENTENCE_ENDINGS
from lmdemo.words import HAN, content_words, is_chinese, words

SYSTEM = (
    "Answer the user's question in one or two sentences, using only the numbered passages below. "
    "After each sentence write the number of the passage it comes from, like [1].\n\n{passages}"
)
# Where a small model starts writing a prompt of its own instead of an answer: the reply ends there.
ECHO_STOPS = ("Question:", "Context:", "Passages:", "\n[1] (")
# Quote mode on the ACLSum dev questions (ROUGE-L against the human answer): 1 sentence 0.182, 2 0.176,
# 3 0.163; a rank penalty of 0.1 per passage beat 0.02 (0.176 against 0.170 with 2 sentences).
QUOTE_SENTENCES = 1
QUOTE_RANK_PENALTY = 0.1
# For a question with an intent (lmdemo.docqa.intent), a quoted sentence's length in words counts by how far
# its log is from a one-sentence answer's (ACLSum's human answers: 22 words on average).
QUOTE_WORDS = 25
QUOTE_LENGTH_WEIGHT = 0.1
PAGE_CHARS = 3000  # a place on page n counts as (n - 1) pages of this many characters in
# A sentence of a generated answer counts as backed by a passage holding this share of its words (other
# than the question's): on 45 ACLSum dev questions, keeping only backed sentences (quoting when none is)
# gave ROUGE-L 0.204 at 0.5, 0.211 at 0.6, 0.212 at 0.7, against 0.178 for the whole answer.
BACKED = 0.6
NOT_FOUND = "The documents do not contain an answer to this question."
# A Chinese question gets the instructions and the app's messages in Chinese, so the answer comes in Chinese.
SYSTEM_ZH = "请只根据下面编号的段落，用一两句话回答用户的问题。每句话后面写出它所依据的段落编号，例如 [1]。\n\n{passages}"
NOT_FOUND_ZH = "文档中没有这个问题的答案。"


# How an answer was made, said under it, in the question's language.
HOW: dict[str, tuple[str, str]] = {
    "generated": ("generated", "由对话模型生成"),
    "quoted": ("quoted from the passages", "摘自文档段落"),
    "generated_unbacked": ("generated; no passage backs {count} of its sentences (left uncited)",
                           "由对话模型生成；其中 {count} 句没有段落支持（未标引用）"),
    "generated_trimmed": ("generated; left out what no passage backs ({count} of its sentences)",
                          "由对话模型生成；删去了 {count} 句没有段落支持的话"),
    "quoted_instead": ("quoted from the passages (no passage backed the generated answer)",
                       "摘自文档段落（生成的回答没有段落支持）"),
    "nothing": ("nothing relevant found", "没有找到相关的段落"),
    "vectors_pending": ("{status}, so keyword search answered", "{status}，所以由关键词检索回答"),
    "unreadable": ("the encoder {encoder} does not know {share:.0%} of the question's characters, so keyword "
                   "search answered", "编码器 {encoder} 不认识问题中 {share:.0%} 的字符，所以由关键词检索回答"),
}


def not_found(question: str) -> str:
    """'Not in the documents', in the question's language."""
    return NOT_FOUND_ZH if is_chinese(question) else NOT_FOUND


def how(question: str, key: str, **values: object) -> str:
    """How the answer was made (HOW), in the question's language."""
    en, zh = HOW[key]
    return (zh if is_chinese(question) else en).format(**values)

_CITATION = re.compile(r"\s*\[(\d{1,3})\]")  # with the space before it, which goes when it is dropped
_CITATION_GROUP = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})+)\]")  # "[1, 2]", as models often write
# A sentence of an answer with the citation markers after its end ("… in 1987. [1]", as models write them).
_SENTENCE = re.compile(r"\S.*?(?:(?<=[.!?])(?:\s*\[\d{1,3}\])*(?=\s|$)|(?<=[。！？；])(?:\s*\[\d{1,3}\])*|$)", re.DOTALL)


def passage_label(hit: Hit) -> str:
    p = hit.passage
    where = f", page {p.page}" if p.page else ""
    heading = f", {p.heading}" if p.heading else ""
    return f"{p.source}{where}{heading}"


def place(passage: Passage, offset: int) -> int:
    """How far into its document (in characters, pages counted as PAGE_CHARS) a passage's offset is."""
    return ((passage.page or 1) - 1) * PAGE_CHARS + passage.start + offset


def build_messages(question: str, hits: Sequence[Hit]) -> list[Message]:
    """The rule and the numbered passages as the system turn, the question alone as the user's.

    With the passages and a "Question:" label in the user turn, small models answered by writing
    the prompt out again; with the question alone they answer it.
    """
    numbered = "\n\n".join(f"[{i}] ({passage_label(h)})\n{h.passage.text}" for i, h in enumerate(hits, start=1))
    return [
        {"role": "system", "content": (SYSTEM_ZH if is_chinese(question) else SYSTEM).format(passages=numbered)},
        {"role": "user", "content": question},
    ]


_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|(?<=[。！？])")
_CJK = re.compile(f"[{HAN}]")
_BLOCK = re.compile(r"^#[^\n]*|[^\n]+(?:\n(?!\s*#)[^\n]*\S[^\n]*)*", re.MULTILINE)  # a heading line, or a paragraph


def passage_sentences(text: str) -> list[tuple[int, str]]:
    """(offset, sentence) for the whole sentences of a passage: its first piece is skipped when the
    passage starts mid-sentence, and headings, captions and fragments are left out.

    Paragraphs and heading lines are split first: a paper's "## Abstract" must not swallow the
    abstract's first sentence.
    """
    found = []
    for block in _BLOCK.finditer(text):
        start = 0
        for piece in _SENTENCE_SPLIT.split(block.group(0)):
            offset = block.group(0).find(piece, start)
            start = offset + len(piece)
            sentence = " ".join(piece.split())
            long_enough = len(sentence.split()) >= 6 or len(_CJK.findall(sentence)) >= 10
            whole = not sentence[:1].islower() and sentence[-1:] in SENTENCE_ENDINGS
            if long_enough and whole and not sentence.startswith("#"):
                found.append((block.start() + offset, sentence))
    return found


class Attributed(NamedTuple):
    """An answer with checked citations."""

    text: str
    cited: list[int]  # 1-based passage numbers, in the order first cited
    unbacked: int  # sentences that no passage backs (left out of `text` when asked to)


def attribute(answer: str, hits: Sequence[Hit], question: str = "", backed_only: bool = False) -> Attributed:
    """The answer with its citations checked against the passages.

    A sentence is backed by passages holding at least BACKED of its content words other than the
    question's (restating the question backs nothing). A marker [n] stays when passage n shares a
    word with its sentence and the marked passages together back it; otherwise the sentence cites
    the one passage that backs it, if any does. Grouped markers ("[1, 2]") become one per passage.
    With `backed_only`, sentences that no passage backs are left out.
    """
    passage_words = [content_words(h.passage.text) for h in hits]
    asked = content_words(question)
    cited: list[int] = []
    sentences = []
    unbacked = 0
    answer = _CITATION_GROUP.sub(lambda m: "".join(f"[{n.strip()}]" for n in m.group(1).split(",")), answer)
    for sentence in _SENTENCE.findall(answer.strip()):
        marked = list(dict.fromkeys(int(n) for n in _CITATION.findall(sentence) if 1 <= int(n) <= len(hits)))
        bare = _CITATION.sub("", sentence).strip()
        said = content_words(bare) - asked
        sharing = [n for n in marked if said & passage_words[n - 1]]
        backing: list[int] = []
        if said and sharing and _share(said, set().union(*(passage_words[n - 1] for n in sharing))) >= BACKED:
            backing = sharing
        elif said:
            shares = [_share(said, words) for words in passage_words]
            best = max(range(len(hits)), key=shares.__getitem__, default=None)
            if best is not None and shares[best] >= BACKED:
                backing = [best + 1]
        if not backing:
            unbacked += 1
            if backed_only:
                continue
        elif backing == sharing:
            sentence = _CITATION.sub(lambda m: m.group(0) if int(m.group(1)) in backing else "", sentence).strip()
        else:
            sentence = f"{bare} [{backing[0]}]"
        cited.extend(n for n in backing if n not in cited)
        sentences.append(sentence if backing else bare)
    return Attributed(" ".join(sentences), cited, unbacked)


def _share(said: set[str], passage_words: set[str]) -> float:
    return len(said & passage_words) / len(said)


def matched_terms(passage: str, *texts: str) -> list[str]:
    """Words of the question or answer that occur in the passage, for highlighting."""
    wanted = set().union(*(content_words(t) for t in texts)) if texts else set()
    found = {word for _, word in words(passage) if word.lower() in wanted}
    return sorted(found, key=str.lower)
