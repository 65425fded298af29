"""Passages fit the encoder, and remember page, heading and exact span."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from lmdemo.docqa.loaders import LoadedDocument, Page, document_from_text
from lmdemo.docqa.splitting import Splitter
from tests.docfiles import ZORBLAT_MD

LONG_MD = ZORBLAT_MD + "\n".join(
    f"\n## Section {i}\n\n" + " ".join(f"Sentence {i}.{j} talks about lakes, sensors and engineers." for j in range(30))
    for i in range(4)
)


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir: Path):
    return AutoTokenizer.from_pretrained(tiny_bert_dir)


def test_passages_fit_the_token_budget_and_cover_the_text(tokenizer) -> None:
    splitter = Splitter(tokenizer, chunk_tokens=60, overlap_tokens=10)
    doc = document_from_text("lake.md", LONG_MD)
    passages = splitter.split(doc)
    assert len(passages) > 5
    for p in passages:
        assert len(tokenizer(p.text, add_special_tokens=False)["input_ids"]) <= 60
        assert doc.pages[0].text[p.start : p.end] == p.text
    covered = set()
    for p in passages:
        covered.update(range(p.start, p.end))
    assert len(covered) >= 0.95 * len(doc.pages[0].text.strip())


def test_markdown_passages_carry_their_heading_path(tokenizer) -> None:
    passages = Splitter(tokenizer, chunk_tokens=40, overlap_tokens=0).split(document_from_text("z.md", LONG_MD))
    by_text = {p.heading for p in passages if "Sentence 2.5 " in p.text}
    assert by_text == {"Zorblat Station › Section 2"}
    history = [p for p in passages if "Maria Quell" in p.text]
    assert history and history[0].heading.startswith("Zorblat Station")


def test_pdf_pages_are_kept(tokenizer) -> None:
    doc = LoadedDocument("a.pdf", "pdf", [Page("First page text.", 1), Page("Second page text.", 2)])
    passages = Splitter(tokenizer, chunk_tokens=50).split(doc)
    assert [(p.page, p.text) for p in passages] == [(1, "First page text."), (2, "Second page text.")]
    assert all(p.heading == "" for p in passages)


def test_chunk_size_never_exceeds_the_encoder_limit(tokenizer) -> None:
    tokenizer.model_max_length = 64
    assert Splitter(tokenizer, chunk_tokens=500).chunk_tokens == 62


def test_repeated_text_gets_each_copys_own_offset_and_heading(tokenizer) -> None:
    """The same paragraph under two headings: each passage points at its own copy, not the first."""
    paragraph = " ".join(f"The pump {j} is checked every week by the station crew." for j in range(12))
    text = f"# Station\n\n## North pump\n\n{paragraph}\n\n## South pump\n\n{paragraph}\n"
    passages = Splitter(tokenizer, chunk_tokens=60, overlap_tokens=10).split(document_from_text("p.md", text))
    starts = [p.start for p in passages]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(text[p.start:p.end] == p.text for p in passages)
    south = text.index("## South pump")
    assert {p.heading.split(" › ")[-1] for p in passages if p.start > south} == {"South pump"}
    assert any(p.start > south and p.text.startswith("The pump 0") for p in passages)


def test_a_large_single_page_document_has_exact_offsets(tokenizer) -> None:
    """A 1 MB text file of one page with recurring sentences: every passage's offset is its own span."""
    text = "\n\n".join(" ".join(f"Reading {i % 7} of sensor {j % 5} was normal." for j in range(40)) for i in range(750))
    assert len(text) > 1_000_000
    passages = Splitter(tokenizer, chunk_tokens=200, overlap_tokens=30).split(
        LoadedDocument("log.txt", "text", [Page(text)]))
    assert len(passages) > 1000
    assert all(text[p.start:p.end] == p.text for p in passages)
    assert all(a.start < b.start for a, b in zip(passages, passages[1:]))


def test_chinese_passages_end_at_sentence_marks(tokenizer) -> None:
    sentence = "自注意力机制让每个词都能看到其他词。它是模型的核心！“注意力就是一切。”为什么有效？"
    doc = document_from_text("zh.txt", sentence * 12)
    passages = Splitter(tokenizer, chunk_tokens=40, overlap_tokens=0).split(doc)
    assert len(passages) > 3
    assert all(p.text[-1] in "。！？”" for p in passages), [p.text[-3:] for p in passages]
    assert all(doc.pages[0].text[p.start:p.end] == p.text for p in passages)


def test_a_title_and_heading_are_never_a_passage_alone(tokenizer) -> None:
    """A title and "## Abstract" before a long abstract: the first passage carries the abstract's
    first sentences too, within the budget, and no passage is headings alone."""
    abstract = " ".join(f"Sentence {j} says the lake sensors drift in winter." for j in range(40))
    text = f"# Drifting lake sensors\n\n## Abstract\n\n{abstract}\n\n## Method\n\n{abstract}\n"
    passages = Splitter(tokenizer, chunk_tokens=60, overlap_tokens=10).split(document_from_text("d.md", text))
    assert passages[0].start == 0 and "Sentence 0 says" in passages[0].text
    assert passages[0].heading == "Drifting lake sensors › Abstract"
    for p in passages:
        assert any(not line.startswith("#") for line in p.text.splitlines() if line.strip()), p.text
        assert len(tokenizer(p.text, add_special_tokens=False)["input_ids"]) <= 60
        assert text[p.start:p.end] == p.text
    assert all(a.start < b.start and a.end < b.end for a, b in zip(passages, passages[1:]))


MIXED = ("Résumé of the naïve model, v2.0 (2024): accuracy 0.87!\tSee §3.\n\n"
         "中文的句子也要数对。模型很小，但是有用。 dash-separated words and e-mail@example.com")


def test_word_by_word_counts_equal_whole_text_counts_for_wordpiece(tokenizer) -> None:
    splitter = Splitter(tokenizer)
    assert splitter._count_words is not None, "BERT's pre-tokenizer never makes a token across a space"
    many_words = " ".join(f"term{i}" for i in range(300)) + MIXED + LONG_MD  # counted in one batch first
    for document in ("", many_words):  # words counted as pieces ask for them, or in one batch first
        count = splitter._document_counter(document)
        for text in (MIXED, LONG_MD, MIXED[:17], MIXED[3:40], "  spaced   out  "):
            assert count(text) == len(tokenizer(text, add_special_tokens=False)["input_ids"])
    assert splitter._known["naïve"] == len(tokenizer("naïve", add_special_tokens=False)["input_ids"])


def test_a_byte_level_tokenizer_counts_whole_pieces(tiny_llama_dir: Path) -> None:
    bpe = AutoTokenizer.from_pretrained(tiny_llama_dir)
    splitter = Splitter(bpe)
    assert splitter._count_words is None, "a byte-level BPE token may hold a space, so words do not add up"
    count = splitter._document_counter(MIXED)
    assert count(MIXED) == len(bpe(MIXED, add_special_tokens=False)["input_ids"])
