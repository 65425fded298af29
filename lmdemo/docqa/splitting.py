"""Split documents into passages that fit the encoder, remembering where each came from.

Sizes are counted with the encoder's own tokenizer (it truncates at its max length, so a
passage that is too long would be embedded only in part). Every passage records its heading
path (Markdown), page and character span in the source.
"""

from __future__ import annotations

import bisect
import copy
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

from lmdemo.docqa.loaders import LoadedDocument

# After paragraphs and lines, a passage ends at a sentence mark of Chinese and Japanese (after a
# closing quote that follows it), which has no space after it: without this, a long Chinese
# paragraph was cut wherever the token budget ran out, mid-sentence.
CJK_SENTENCE_END = r"(?<=[。！？；…][”’」』])|(?<=[。！？；…])(?![”’」』])"


def separators(markdown: bool) -> list[str]:
    """Where passages may end, best first, as regular expressions: langchain's own separators read
    literally, as langchain reads them by default (so English passages are exactly what they were),
    and the Chinese sentence end before the space."""
    base = RecursiveCharacterTextSplitter.get_separators_for_language(Language.MARKDOWN) if markdown else [
        "\n\n", "\n", " ", ""]
    at = base.index(" ")
    return [*map(re.escape, base[:at]), CJK_SENTENCE_END, *map(re.escape, base[at:])]


_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|[。！？；]")


@dataclass(frozen=True)
class Passage:
    """A retrievable piece of a document."""

    text: str
    source: str
    page: int | None
    heading: str
    start: int
    end: int


class _Headings:
    """The heading path in force at any character offset of a Markdown text."""

    def __init__(self, text: str) -> None:
        self.offsets: list[int] = []
        self.paths: list[str] = []
        stack: list[tuple[int, str]] = []
        for match in _HEADING.finditer(text):
            level = len(match.group(1))
            stack = [(lvl, title) for lvl, title in stack if lvl < level] + [(level, match.group(2).strip())]
            self.offsets.append(match.start())
            self.paths.append(" › ".join(title for _, title in stack))

    def at(self, offset: int) -> str:
        i = bisect.bisect_right(self.offsets, offset) - 1
        return self.paths[i] if i >= 0 else ""


# Pre-tokenizers that never make a token across whitespace (BERT's WordPiece): a text's token
# count is then the sum of its words' counts.
WORD_ADDITIVE = {"BertPreTokenizer", "Whitespace", "WhitespaceSplit"}


# A document with fewer new words than this has them tokenized as pieces ask for them: batching them
# cost more than it saved on 3,000 short Chinese news documents (3.5 s to split against 1.9 s).
BATCH_FROM = 256
MAX_KNOWN_WORDS = 500_000  # words whose counts a splitter keeps across documents (tens of MB at most)


def _token_counter(tokenizer: Any) -> tuple[Callable[[str], int], Callable[[list[str]], list[int]] | None]:
    """Count tokens with the encoder's tokenizer, the Rust backend directly when there is one (fast);
    and, where counts add up word by word, a counter of many words in one call."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        backend = copy.deepcopy(backend)
        backend.no_truncation()  # a saved tokenizer may truncate, which would hide long passages
        backend.no_padding()

        def count(text: str) -> int:
            return len(backend.encode(text, add_special_tokens=False).ids)

        def count_words(texts: list[str]) -> list[int]:
            return [len(encoding.ids) for encoding in backend.encode_batch(texts, add_special_tokens=False)]

        return count, count_words if type(backend.pre_tokenizer).__name__ in WORD_ADDITIVE else None
    return (lambda text: len(tokenizer.tokenize(text))), None


class Splitter:
    """Token-aware recursive splitting, header-aware for Markdown."""

    def __init__(self, tokenizer: Any, chunk_tokens: int = 200, overlap_tokens: int = 30) -> None:
        limit = getattr(tokenizer, "model_max_length", 512)
        if limit and limit < 100_000:
            chunk_tokens = min(chunk_tokens, limit - 2)
        self.chunk_tokens = chunk_tokens

        self._count, self._count_words = _token_counter(tokenizer)
        self._known: dict[str, int] = {}  # word → tokens, shared by documents (and users: counts are no secret)
        self._overlap = overlap_tokens

    def _document_counter(self, text: str = "") -> Callable[[str], int]:
        """Token counts memoised for one document. langchain measures each piece many times (150
        papers: 5.0 s to split uncached), and pieces of every size: where counts add up word by word,
        a piece is the sum of its words' counts, and the document's words not counted before are
        tokenized in one batch (the 150 ACLSum dev papers make the same 7,543 passages; one call
        per word took 3.9 s of 5.3 s to split them, on an AMX Xeon)."""
        if self._count_words is None:
            return functools.lru_cache(maxsize=None)(self._count)
        known = self._known
        words: dict[str, int] = {}
        new = []
        for word in set(text.split()):
            tokens = known.get(word)
            if tokens is None:
                new.append(word)
            else:
                words[word] = tokens
        if len(new) >= BATCH_FROM:
            counted = dict(zip(new, self._count_words(new)))
            words.update(counted)
            if len(known) + len(counted) > MAX_KNOWN_WORDS:
                known.clear()
            known.update(counted)

        def count(piece: str) -> int:
            total = 0
            for word in piece.split():  # a piece may cut a word (at a Chinese sentence end, or mid-word)
                tokens = words.get(word)
                if tokens is None:
                    tokens = words[word] = self._count(word)
                total += tokens
            return total

        return functools.lru_cache(maxsize=None)(count)

    def _splitter(self, markdown: bool, text: str) -> RecursiveCharacterTextSplitter:
        """A splitter for one document (`text`), its token counts memoised for it."""
        return RecursiveCharacterTextSplitter(
            chunk_size=self.chunk_tokens,
            chunk_overlap=self._overlap,
            length_function=self._document_counter(text),
            separators=separators(markdown),
            is_separator_regex=True,
            strip_whitespace=True,
        )

    def split(self, document: LoadedDocument) -> list[Passage]:
        markdown = document.kind in ("markdown", "html", "docx")
        splitter = self._splitter(markdown, "\n".join(page.text for page in document.pages))
        passages: list[Passage] = []
        for page in document.pages:
            headings = _Headings(page.text) if markdown else None
            start, covered = -1, -1
            for text in splitter.split_text(page.text):
                # Chunks come in order and each starts after the previous one's start (overlap or not):
                # searching forward finds the right copy of repeated text, in linear time.
                found = page.text.find(text, start + 1)
                start = found if found >= 0 else max(page.text.find(text), 0)
                end = start + len(text)
                heading = headings.at(start) if headings else ""
                if headings and _only_headings(text):
                    heading = headings.at(end - 1)
                    end = self._extend(page.text, start, end)
                if end <= covered:  # inside the extended passage before it
                    continue
                covered = end
                passages.append(Passage(page.text[start:end], document.name, page.number, heading, start, end))
        return passages

    def _extend(self, text: str, start: int, end: int) -> int:
        """Where a passage of headings alone should end: after as many of the sentences that
        follow as fit the budget. A chunk of a title and "## Abstract" only used to rank first for
        questions naming the paper while holding nothing to answer them with (158 of the 450
        ACLSum dev questions). Tokens are added up sentence by sentence: exact for WordPiece,
        which splits at spaces anyway (the 150 dev papers make the same 7,543 passages), and at
        worst a token over per sentence for SentencePiece, which only makes a passage shorter;
        recounting the growing passage took 1.2 s of the 3.8 s that splitting those papers took."""
        best, tokens = end, self._count(text[start:end])
        for match in _SENTENCE_END.finditer(text, end, min(len(text), end + 8 * self.chunk_tokens)):
            tokens += self._count(text[best:match.end()])
            if tokens > self.chunk_tokens:
                break
            best = match.end()
        return best


def _only_headings(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and all(_HEADING.fullmatch(line.strip()) for line in lines)
