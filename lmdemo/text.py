"""Text hygiene shared by every entry point that takes user text."""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")


def clean_user_text(text: str) -> str:
    """NFC-normalise and drop control characters (keeping newlines and tabs) and lone surrogates."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub("", unicodedata.normalize("NFC", text)).replace("\r\n", "\n")
