"""Every supported format from real files, and a clear message for every bad one."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmdemo.docqa.loaders import IngestError, load_document
from tests import docfiles


def test_pdf_keeps_page_numbers(tmp_path: Path) -> None:
    path = docfiles.pdf(tmp_path / "two.pdf", ["Apples grow on trees.", "Bananas grow in bunches."])
    doc = load_document(path)
    assert doc.kind == "pdf"
    assert [p.number for p in doc.pages] == [1, 2]
    assert "Apples" in doc.pages[0].text and "Bananas" in doc.pages[1].text


def test_docx_headings_become_markdown_and_tables_stay_in_place(tmp_path: Path) -> None:
    doc = load_document(docfiles.docx(tmp_path / "report.docx"))
    text = doc.pages[0].text
    assert text == ("# Harbour report\n\nThe harbour of Velmora handled 42 ships in March.\n\n"
                    "Ship | Cargo\n\nArdent | fuel\n\n## Weather\n\nStorms closed the harbour for three days."), \
        "headings as Markdown, the table where it stands in the document"


def test_html_keeps_the_main_text_only(tmp_path: Path) -> None:
    text = load_document(docfiles.html(tmp_path / "tea.html")).pages[0].text
    assert "Camellia sinensis" in text and "80 degrees" in text
    for boilerplate in ("SCRIPTTEXT", "MENUITEM", "FOOTERTEXT"):
        assert boilerplate not in text


def test_markdown_and_text_with_detected_encoding(tmp_path: Path) -> None:
    md = tmp_path / "z.md"
    md.write_text(docfiles.ZORBLAT_MD, encoding="utf-8")
    assert load_document(md).kind == "markdown"
    latin = tmp_path / "latin.txt"
    french = (
        "Le café crème est servi à la terrasse. Les élèves préfèrent le thé glacé en été, "
        "mais en hiver ils boivent du chocolat chaud près de la fenêtre. Où est la bibliothèque ? "
        "Elle se trouve derrière l'église, à côté du marché où l'on vend des pêches et des crêpes."
    )
    latin.write_bytes(french.encode("cp1252"))
    assert load_document(latin).pages[0].text == french


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: _write(d / "empty.pdf", b""), "empty"),
        (lambda d: _write(d / "corrupt.pdf", b"%PDF-1.4\n garbage garbage"), "damaged"),
        (lambda d: _write(d / "fake.txt", bytes(range(256)) * 20), "binary"),
        (lambda d: docfiles.junk_docx(d / "junk.docx"), "not a valid Word"),
        (lambda d: docfiles.scanned_pdf(d / "scan.pdf"), "no text found"),
        (lambda d: _write(d / "sheet.xlsx", b"PK\x03\x04"), "unsupported file type"),
    ],
)
def test_bad_files_give_clear_messages(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(IngestError, match=message) as error:
        load_document(path)
    assert path.name in str(error.value)


def test_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    plain = docfiles.pdf(tmp_path / "plain.pdf", ["Secret plans."])
    path = docfiles.encrypted_pdf(tmp_path / "locked.pdf", plain)
    with pytest.raises(IngestError, match="password"):
        load_document(path)


def test_oversize_file_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "big.txt", b"word " * 50_000)
    with pytest.raises(IngestError, match="over the"):
        load_document(path, max_bytes=100_000)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
