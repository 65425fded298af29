"""Where sentences end in what a model writes: to stop a reply after so many sentences, and to cut
one that was stopped short back to its whole sentences. English and Chinese; citation markers after
the full stop ("… in 1987. [1]") go with their sentence, and a list's "1." is no end. Used by
Document QA answers and abstractive summaries.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lmdemo.models.types import Chunk

# The last character of a finished sentence, in English or Chinese (a closing quote or bracket too).
SENTENCE_ENDINGS = ".!?。！？\"'”’」』)"

# A sentence's end with its citation markers, seen once the next sentence has begun ("1." of a list
# is no end; "e.g." is one, rarely).
_SENTENCE_END = re.compile(
    r"(?:(?<!\s)(?<!^\d)(?<!\s\d)(?<!\s\d\d)[.!?](?=(?:\s*\[[\d,\s]{1,12}\])*\s+[A-Z0-9\"'(*])|[。！？](?=(?:\s*\[[\d,\s]{1,12}\])*\s*[^\s\[]))"
    r"(?:\s*\[[\d,\s]{1,12}\])*"
)
_ENDS_CITED = re.compile(r"\[\d{1,3}(?:\s*,\s*\d{1,3})*\]\s*$")
_LIST_NUMBER_LEFT = re.compile(r"(?<=[.!?。！？\]])\s+\d{1,2}[.)]\s*$")  # "… [1]. 2." once its item was cut


def end_of_sentences(text: str, count: int) -> int | None:
    """Where the first `count` sentences of a growing reply end (their citations included), once
    another sentence has begun; None before that."""
    for n, match in enumerate(_SENTENCE_END.finditer(text), start=1):
        if n == count:
            return match.end()
    return None


def whole_sentences(text: str) -> str:
    """The reply without an unfinished last sentence or a list number left alone (after at least
    one whole sentence): a reply ended by the repetition guard or the token limit may stop
    mid-sentence ("… accuracy. [1] 2. The"). A last sentence that ends with its citation is whole,
    full stop or not, as small models often write it ("She led it for ten years [1]")."""
    text = _LIST_NUMBER_LEFT.sub("", text)
    if _ENDS_CITED.search(text) or text.rstrip()[-1:] in SENTENCE_ENDINGS:
        return text
    ends = [match.end() for match in _SENTENCE_END.finditer(text)]
    return text[:ends[-1]] if ends else text


def reply_text(stream: Iterator[Chunk], limit: int = 0) -> Iterator[str]:
    """A streamed reply as it grows, ended after `limit` sentences (0: no limit) with the stream
    closed there, so generation stops; the last text is cut back to whole sentences."""
    text = ""
    try:
        for chunk in stream:
            text += chunk.text
            end = end_of_sentences(text, limit) if limit else None
            if end is not None:
                yield text[:end]
                return
            yield text
        yield whole_sentences(text)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
