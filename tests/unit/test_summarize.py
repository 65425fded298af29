"""Extractive summaries: central, non-redundant, in document order; sentence splitting."""

from __future__ import annotations

import numpy as np
import pytest

from lmdemo.errors import UserError
from lmdemo.tasks.summarize import extractive, sentences

TOPICS = ["river", "flood", "town", "music", "festival", "band"]


def topic_vectors(parts):
    rows = np.array([[p.lower().count(w) for w in TOPICS] for p in parts], dtype=np.float32) + 1e-3
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


TEXT = (
    "The river flooded the town after days of rain and wind. "
    "The river flood reached the town centre by Monday night. "
    "Rescue teams moved families from the flooded river town. "
    "A music festival with one band was also cancelled that week. "
    "Officials said the river would fall again within a week."
)


def test_sentences_respect_abbreviations() -> None:
    assert sentences("Dr. Smith arrived at 5 p.m. on Monday. He left.") == [
        "Dr. Smith arrived at 5 p.m. on Monday.", "He left."
    ]


def test_extractive_picks_central_sentences_in_order() -> None:
    summary = extractive(topic_vectors, TEXT, 2)
    picked = [s for s in sentences(TEXT) if s in summary]
    assert len(picked) == 2
    assert "music festival" not in summary
    assert summary.index(picked[0]) < summary.index(picked[1])


def test_redundancy_control_avoids_near_duplicates() -> None:
    text = (
        "The river flood hit the town on Monday morning. The river flood hit the town on Monday evening. "
        "The music festival band played a long set that night."
    )
    summary = extractive(topic_vectors, text, 2, redundancy=0.3)
    assert "festival" in summary


def test_short_text_is_returned_whole_and_empty_text_refused() -> None:
    assert extractive(topic_vectors, "One sentence only here.", 3) == "One sentence only here."
    with pytest.raises(UserError):
        extractive(topic_vectors, "   ", 3)
