"""Text hygiene shared by every entry point that takes user text."""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")


def clean_user_text(text: str) -> str:
    """NFC-normalise and drop control characters (keeping newlines and tabs) and lone surrogates."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub("", unicodedata.normalize("NFC", text)).replace("\r\n", "\n")


# English function words: left out when texts are compared by their words (citations, summaries).
STOPWORDS = frozenset(
    "a an and are as at be but by for from has have he her his i in is it its of on or our she that the their "
    "them there these they this to was we were what when where which who why will with you your how does do did "
    "can could would should may might not no yes than then so such into about over also more most other".split()
)
