"""A repetition guard for streamed replies, whatever engine wrote them.

Small models fall into loops: the same sentence again, or a phrase over and over. The guard ends
the reply where the loop starts: at a sentence that repeats an earlier one, or at the third
occurrence of a five-word sequence (trimmed back to the end of the last whole sentence before it).
Asked to (`restatements`, for short answers such as Document QA's), it also ends it at a sentence
that restates what was said: most of its words in five-word sequences said before and no new number
or name, as in "The paper shows that combining systems helps. 2. The paper demonstrates that
combining systems helps." Not in chat, where comparisons are written in parallel ("Python is a
high-level language with a vast ecosystem of libraries. Java is a high-level language with a vast
ecosystem of libraries …" was cut at Java).

Text that may turn out to be such a repeat (a sentence that so far matches the start of an earlier
one, or holds a five-word sequence said before when restatements count, and the last few words) is
held back until it is settled, so the user never sees the loop; a restating sentence's first few
words, written before its first repeated sequence, may have been shown (Document QA drops them from
its final answer). Closing the underlying stream at the cut ends generation there. A CJK character
counts as a word, so Chinese loops are caught too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from lmdemo.models.types import Chunk
from lmdemo.words import HAN

NGRAM = 5
MAX_NGRAM_REPEATS = 2  # the third occurrence is cut
MIN_SENTENCE_WORDS = 3
# A sentence restates earlier ones when five-word sequences said before cover this share of its words,
# and at least this many, and it names no new number or name. Generated Document QA answers to 90
# ACLSum dev questions (bench/qa.py): restating a sentence 19 → 8 by its looser `restates` count,
# ROUGE-L 0.180 → 0.181, citations and evidence unchanged.
RESTATED_SHARE = 0.6
RESTATED_MIN_WORDS = 8
_WORD = re.compile(r"\[\d{1,3}(?:\s*,\s*\d{1,3})*\]|[" + HAN + r"]|\w+")
_PARTIAL_CITATION = re.compile(r"\[\d{0,3}$")
_SENTENCE_END = re.compile(r"[.!?。！？]+[\"'”’)\]]*(?:\s*\[\d{1,3}\])*(?=\s|$)|[。！？]")


def _words(text: str) -> list[tuple[str, int, int]]:
    """(lower-cased word, start, end) for each word; citation markers like [2] or [1, 2] are not words."""
    return [(m.group(0).lower(), m.start(), m.end()) for m in _WORD.finditer(text) if not m.group(0).startswith("[")]


def _sentence_ends(text: str) -> list[int]:
    return [m.end() for m in _SENTENCE_END.finditer(text)]


def _grams(words: Sequence[str]) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + NGRAM]) for i in range(len(words) - NGRAM + 1)}


def _restates(sentence: str, said: set[tuple[str, ...]], known: set[str]) -> bool:
    """Whether five-word sequences already in `said` cover most of the sentence's words and the rest
    bring no new number or name (of the words in `known`): "BERT reaches 91.2 F1 on the SQuAD dev
    set. RoBERTa reaches 94.6 F1 on the SQuAD dev set." compares, it does not restate."""
    found = _words(sentence)
    words = [w for w, _, _ in found]
    covered: set[int] = set()
    for i in range(len(words) - NGRAM + 1):
        if tuple(words[i:i + NGRAM]) in said:
            covered.update(range(i, i + NGRAM))
    if len(covered) < max(RESTATED_MIN_WORDS, RESTATED_SHARE * len(words)):
        return False
    for i, (word, start, _) in enumerate(found):
        named = any(ch.isdigit() for ch in word) or (i > 0 and sentence[start].isupper())
        if i not in covered and named and word not in known:
            return False
    return True


def _said(text: str, ends: Sequence[int]) -> set[tuple[str, ...]]:
    """The five-word sequences within the whole sentences ending at `ends` (as `loop_start` collects them)."""
    grams: set[tuple[str, ...]] = set()
    start = 0
    for end in ends:
        grams |= _grams([w for w, _, _ in _words(text[start:end])])
        start = end
    return grams


class RepetitionGuard:
    """Feed it the reply piece by piece; it returns what may be shown and says when to stop."""

    def __init__(self, restatements: bool = False) -> None:
        self.restatements = restatements
        self.text = ""
        self.stopped = False
        self._shown = 0

    def feed(self, piece: str, final: bool = False) -> str:
        """Add `piece`; return the newly showable text (all of the rest when `final`)."""
        if self.stopped:
            return ""
        self.text += piece
        cut = self.loop_start(self.text, final)
        if cut is not None:
            cut = max(cut, self._shown)  # what was shown stays shown
            self.stopped = True
            self.text = self.text[:cut].rstrip(" ,;:—-")
            end = len(self.text)
        else:
            end = len(self.text) if final else self._settled(self.text)
        shown, self._shown = self.text[self._shown:end], max(self._shown, end)
        return shown

    def loop_start(self, text: str, final: bool = False) -> int | None:
        """Where a loop begins: a repeated or restating whole sentence (the unfinished last one too
        when the reply is over), or the third run of a five-word sequence."""
        seen: set[tuple[str, ...]] = set()
        said: set[tuple[str, ...]] = set()
        known: set[str] = set()
        start = 0
        ends = _sentence_ends(text)
        if final and _words(text[ends[-1] if ends else 0:]):
            ends.append(len(text))
        for end in ends:
            words = tuple(w for w, _, _ in _words(text[start:end]))
            if len(words) >= MIN_SENTENCE_WORDS:
                if words in seen or (self.restatements and _restates(text[start:end], said, known)):
                    return start
                seen.add(words)
            said |= _grams(words)
            known.update(words)
            start = end
        words = _words(text)
        runs: dict[tuple[str, ...], list[int]] = {}
        for i in range(len(words) - NGRAM + 1):
            gram = tuple(w for w, _, _ in words[i:i + NGRAM])
            starts = runs.setdefault(gram, [])
            starts.append(i)
            if len(starts) > MAX_NGRAM_REPEATS:
                third = words[i][1]
                after_second = words[starts[-2]][1]
                ends = [e for e in _sentence_ends(text) if after_second < e <= third]
                return ends[-1] if ends else third
        return None

    def _settled(self, text: str) -> int:
        """How much of `text` can no longer become part of a loop's start."""
        ends = _sentence_ends(text)
        current = ends[-1] if ends else 0
        tail = tuple(w for w, _, _ in _words(_PARTIAL_CITATION.sub("", text[current:])))
        if tail:
            if self.restatements and _grams(tail) & _said(text, ends):
                return current  # it may be restating what was said
            start = 0
            for end in ends:
                earlier = tuple(w for w, _, _ in _words(text[start:end]))
                if (len(earlier) >= MIN_SENTENCE_WORDS and len(tail) <= len(earlier)
                        and earlier[:len(tail) - 1] == tail[:-1] and earlier[len(tail) - 1].startswith(tail[-1])):
                    return current  # the sentence being written may be an earlier one again
                start = end
        words = _words(text)
        hold = words[-NGRAM][1] if len(words) >= NGRAM else 0
        return min(hold, len(text))


def loops(text: str) -> bool:
    """Whether a finished text repeats itself as the guard would cut it (quote mode skips such a sentence of a
    document: "… ideas ideas ideas ideas ideas ideas …", a list of bullets sharing their words)."""
    return RepetitionGuard().loop_start(text, final=True) is not None


def guard_repetition(stream: Iterator[Chunk], restatements: bool = False) -> Iterator[Chunk]:
    """The stream, ending (finish reason "stop") where the reply starts to loop."""
    guard = RepetitionGuard(restatements)
    try:
        for chunk in stream:
            final = chunk.finish_reason is not None
            shown = guard.feed(chunk.text, final)
            if guard.stopped:
                yield Chunk(shown, chunk.completion_tokens, chunk.prompt_tokens, "stop")
                return
            if final:
                yield Chunk(shown, chunk.completion_tokens, chunk.prompt_tokens, chunk.finish_reason)
                return
            if shown:
                yield Chunk(shown, chunk.completion_tokens, chunk.prompt_tokens)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
