"""Document QA end to end on the packaged encoder and chat model."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmdemo.docqa.answer import NOT_FOUND
from lmdemo.errors import UserError
from lmdemo.models.types import SamplingParams
from lmdemo.services import build_services
from lmdemo.settings import Settings
from tests import docfiles

GREEDY = SamplingParams(temperature=0, max_new_tokens=60, repetition_penalty=1.0)


@pytest.fixture(scope="module")
def services(cache_dir: Path):
    return build_services(Settings(device="cpu", cache_dir=cache_dir, temperature=0.0))


@pytest.fixture
def files(tmp_path: Path) -> list[tuple[Path, str]]:
    md = tmp_path / "zorblat.md"
    md.write_text(docfiles.ZORBLAT_MD)
    return [
        (md, md.name),
        (docfiles.pdf(tmp_path / "fruit.pdf", ["Apples are harvested in autumn.", "Mangoes need heat."]), "fruit.pdf"),
        (docfiles.docx(tmp_path / "harbour.docx"), "harbour.docx"),
        (docfiles.scanned_pdf(tmp_path / "scan.pdf"), "scan.pdf"),
        (docfiles.junk_docx(tmp_path / "junk.docx"), "junk.docx"),
    ]


def test_ingest_reports_each_file_and_skips_only_the_bad_ones(services, files) -> None:
    index = services.docqa.new_index()
    seen = []
    report = services.docqa.ingest(index, files, lambda fraction, message: seen.append(fraction))
    assert [name for name, _ in report.added] == ["zorblat.md", "fruit.pdf", "harbour.docx"]
    assert len(report.errors) == 2
    assert any("scan.pdf" in str(e) and "no text" in str(e) for e in report.errors)
    assert any("junk.docx" in str(e) for e in report.errors)
    assert index.sources() == ["zorblat.md", "fruit.pdf", "harbour.docx"]
    assert seen == sorted(seen) and seen[-1] == 1.0
    again = services.docqa.ingest(index, files[:1])
    assert [str(e) for e in again.errors] == ["zorblat.md: already indexed"]


def test_answer_is_grounded_and_cites_the_right_source(services, files) -> None:
    index = services.docqa.new_index()
    services.docqa.ingest(index, files)
    updates = list(services.docqa.ask(index, "Who founded Zorblat Station?", GREEDY))
    final = updates[-1]
    assert final.done and "Maria Quell" in final.text
    assert "[1]" in final.text or "[2]" in final.text
    assert final.sources and final.sources[0].source == "zorblat.md"
    assert "Zorblat" in final.sources[0].matched
    assert len(updates) > 2, "the answer should stream"


def test_pdf_answers_cite_the_page(services, files) -> None:
    index = services.docqa.new_index()
    services.docqa.ingest(index, files)
    hits = services.docqa.retrieve(index, "When do mangoes grow? They need heat", k=1)
    assert hits[0].passage.source == "fruit.pdf" and hits[0].passage.page == 2


def test_unrelated_question_says_the_documents_do_not_contain_it(services, files) -> None:
    index = services.docqa.new_index()
    services.docqa.ingest(index, files)
    final = list(services.docqa.ask(index, "What is the population of Brazil?", GREEDY))[-1]
    assert final.text == NOT_FOUND and final.sources == []


def test_asking_without_documents_is_a_clear_error(services) -> None:
    with pytest.raises(UserError, match="Upload"):
        list(services.docqa.ask(services.docqa.new_index(), "Anything?", GREEDY))


RELATED = " ".join(f"Earlier work {i} parsed edited text of kind {i} with a grammar of its own." for i in range(40))
PAPER = f"""# Glossy Parsing with Lattice Trees

## Abstract
Parsing noisy social media posts remains hard, because parsers trained on clean newswire fail on misspellings and slang.
In this paper, we propose Lattice Trees, a parser that reads a lattice of spelling variants instead of a single string.

## Introduction
Social media posts are written quickly and are full of creative spellings that no dictionary lists.

## Related work
{RELATED}
Trees of lattices are described in detail in the next section.

## Experiments
We train every parser on the same treebank of posts and tune it on a held-out set of two hundred posts.
Experiments on three Twitter treebanks show that Lattice Trees improves the labelled attachment score by 4.2 points over the best baseline.
"""


@pytest.mark.parametrize("asked, expected", [
    ("What approach does the paper \"Glossy Parsing with Lattice Trees\" propose?", "In this paper, we propose Lattice Trees"),
    ("What are the main results of the paper \"Glossy Parsing with Lattice Trees\"?", "Experiments on three Twitter"),
])
def test_quote_answers_what_the_question_asks_not_the_sentence_closest_to_its_title(
    services, tmp_path: Path, asked: str, expected: str
) -> None:
    """Closeness to the question alone quotes the sentence naming the parser for both questions."""
    path = tmp_path / "lattice.md"
    path.write_text(PAPER)
    index = services.docqa.new_index()
    services.docqa.ingest(index, [(path, path.name)])
    *_, final = services.docqa.ask(index, asked, GREEDY, answer_mode="quote")
    assert final.text.startswith(expected) and final.text.endswith("]"), final.text
    assert [s.source for s in final.sources] == ["lattice.md"]
