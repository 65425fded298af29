"""The Lab's attention view stays light, and Lab requests have a queue limit of their own."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from lmdemo.settings import Settings
from lmdemo.ui.lab import ATTENTION_VIEW_TOKENS, attention_view


def test_a_long_texts_attention_is_drawn_for_its_first_tokens_and_says_so() -> None:
    n = 450
    matrix = np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]
    page = attention_view([f"t{i}" for i in range(n)], matrix, 2, None)
    assert f"Showing the first {ATTENTION_VIEW_TOKENS} of 450 tokens" in page
    assert page.count("<tr>") == ATTENTION_VIEW_TOKENS + 1 and f"<th>t{ATTENTION_VIEW_TOKENS}</th>" not in page
    assert len(page) < 500_000, f"{len(page) / 1e6:.1f} MB of HTML"
    short = attention_view(["a", "b"], np.array([[1.0, 0.0], [0.5, 0.5]]), 0, 3)
    assert "Showing" not in short and "head 3" in short and short.count("<tr>") == 3


def test_lab_events_share_a_small_concurrency_limit_and_chat_does_not(tmp_path) -> None:
    from lmdemo.services import build_services
    from lmdemo.ui.layout import build_app

    demo = build_app(build_services(Settings(device="cpu", cache_dir=tmp_path, preload=False)))
    lab = [fn for fn in demo.fns.values() if fn.concurrency_id == "lab"]
    assert {fn.api_name for fn in lab} >= {"tokenize", "next_token", "attention"}
    assert len(lab) >= 8 and all(fn.concurrency_limit == 2 for fn in lab)
    chat = [fn for fn in demo.fns.values() if fn.api_name == "chat"]
    assert chat and chat[0].concurrency_id != "lab"


def test_byte_pieces_are_shown_as_text_or_bytes_and_unknown_characters_are_explained(tiny_llama_dir) -> None:
    from transformers import AutoTokenizer

    from lmdemo.lab.introspect import tokens
    from lmdemo.ui.lab import tokens_html

    bpe = tokens(AutoTokenizer.from_pretrained(tiny_llama_dir), "大 hi")
    assert [(t.text, t.shown) for t in bpe] == [("å", "e5"), ("¤", "a4"), ("§", "a7"), ("Ġ", " "), ("h", "h"), ("i", "i")]
    assert bpe[0].note == "bytes of a character split over tokens" and not bpe[4].note
    from lmdemo.models.coverage import coverage

    page = tokens_html("GPT-style (BPE)", bpe, coverage(AutoTokenizer.from_pretrained(tiny_llama_dir), "大 hi"))
    assert "all 3 letters known" in page  # 大, h, i
    assert ">e5<sub>" in page and ">␣<sub>" in page and ">å<sub>" not in page
    from lmdemo.lab.introspect import Token

    unknown = [Token("[UNK]", 100, True, "[UNK]", "not in the vocabulary: the model sees only 'unknown' here")]
    from lmdemo.models.coverage import Coverage

    page = tokens_html("BERT-style (WordPiece)", unknown, Coverage(1, 1, "大"))
    assert "1 token(s) unknown to this model" in page and "0 of 1 letters known (100% unknown: 大)" in page
    chinese = SimpleNamespace(headers={"accept-language": "zh-CN"})
    page = tokens_html("BERT 式（WordPiece）", unknown, Coverage(4, 3, "自 注 意"), chinese)
    assert "1 个 token" in page and "4 个字中认识 1 个（75% 不认识：自 注 意）" in page
