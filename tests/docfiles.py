"""Small real documents written by real libraries, for the Document QA tests."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

ZORBLAT_MD = """# Zorblat Station

## History

Zorblat Station was founded in 1987 by the engineer Maria Quell on the shore of Lake Ombra.
The station measures the temperature of the lake every hour.

## Equipment

The main instrument is a thermistor chain with twelve sensors, replaced in 2019.
"""


def pdf(path: Path, pages: list[str]) -> Path:
    from fpdf import FPDF

    doc = FPDF()
    doc.set_font("helvetica", size=12)
    for text in pages:
        doc.add_page()
        doc.multi_cell(0, 8, text)
    doc.output(str(path))
    return path


def scanned_pdf(path: Path) -> Path:
    """A PDF whose page holds only a drawing (like a scan): no extractable text."""
    from fpdf import FPDF

    doc = FPDF()
    doc.add_page()
    doc.rect(20, 20, 100, 60, style="F")
    doc.output(str(path))
    return path


def encrypted_pdf(path: Path, source: Path) -> Path:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(source).pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    with path.open("wb") as handle:
        writer.write(handle)
    return path


def docx(path: Path) -> Path:
    import docx as python_docx

    document = python_docx.Document()
    document.add_heading("Harbour report", level=1)
    document.add_paragraph("The harbour of Velmora handled 42 ships in March.")
    table = document.add_table(rows=2, cols=2)
    for row, (ship, cargo) in zip(table.rows, [("Ship", "Cargo"), ("Ardent", "fuel")]):
        row.cells[0].text, row.cells[1].text = ship, cargo
    document.add_heading("Weather", level=2)
    document.add_paragraph("Storms closed the harbour for three days.")
    document.save(str(path))
    return path


def junk_docx(path: Path) -> Path:
    """A ZIP archive named .docx that holds no Word document."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("junk.bin", b"\x00\x01 not a word document")
    path.write_bytes(buffer.getvalue())
    return path


def html(path: Path) -> Path:
    path.write_text(
        "<html><head><title>Tea</title><script>var tracking = 'SCRIPTTEXT';</script></head><body>"
        "<nav><a href='/'>Home</a> <a href='/menu'>MENUITEM</a></nav>"
        "<article><h1>Green tea</h1><p>Green tea is made from unoxidised leaves of Camellia sinensis. "
        "It is popular in Japan and China, where it has been drunk for centuries.</p>"
        "<p>Brewing at 80 degrees keeps the taste from turning bitter.</p></article>"
        "<footer>Copyright FOOTERTEXT</footer></body></html>",
        encoding="utf-8",
    )
    return path
