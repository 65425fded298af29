"""Turn an uploaded file into text: PDF (pages kept), DOCX, HTML (main text), Markdown, plain text.

Every failure is an IngestError whose message names the file and says what went wrong,
so one bad file never stops the others.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from lmdemo.errors import UserError
from lmdemo.text import clean_user_text

FORMATS = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
    ".csv": "text",
    ".json": "text",
}


class IngestError(UserError):
    """A file that cannot be ingested; the message is shown next to the file name."""


@dataclass(frozen=True)
class Page:
    """A stretch of a document's text; `number` is the 1-based PDF page, None for other formats."""

    text: str
    number: int | None = None


@dataclass(frozen=True)
class LoadedDocument:
    """A document's text as pages, with its name and format."""

    name: str
    kind: str
    pages: list[Page] = field(default_factory=list)

    @property
    def characters(self) -> int:
        return sum(len(p.text) for p in self.pages)


def _decode_text(data: bytes, name: str) -> str:
    """Detect the encoding (UTF-8 first, then charset-normalizer); refuse binary data."""
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(f"{name}: this looks like a binary file, not text", f"{name}：看起来是二进制文件，不是文本")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise IngestError(f"{name}: could not detect the text encoding; save it as UTF-8",
                          f"{name}：无法识别文本编码；请另存为 UTF-8")
    return str(best)


def _load_pdf(data: bytes, name: str) -> list[Page]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception as error:  # missing AES support raises here
                raise IngestError(f"{name}: the PDF is encrypted; remove its password and upload it again",
                                  f"{name}：PDF 已加密；请去掉密码后重新上传") from error
            if not opened:
                raise IngestError(f"{name}: the PDF is password-protected; remove the password and upload it again",
                                  f"{name}：PDF 有密码保护；请去掉密码后重新上传")
        pages = [Page(page.extract_text() or "", number) for number, page in enumerate(reader.pages, start=1)]
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as error:
        raise IngestError(f"{name}: the PDF is damaged or not a PDF ({error})",
                          f"{name}：PDF 已损坏，或不是 PDF（{error}）") from error
    return pages


def _load_docx(data: bytes, name: str) -> list[Page]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise IngestError(f"{name}: not a valid Word (.docx) file", f"{name}：不是有效的 Word（.docx）文件") from error
    except Exception as error:  # python-docx raises lxml errors for junk XML inside a ZIP
        raise IngestError(f"{name}: not a valid Word (.docx) file ({type(error).__name__})",
                          f"{name}：不是有效的 Word（.docx）文件（{type(error).__name__}）") from error
    from docx.table import Table

    blocks: list[str] = []
    for block in document.iter_inner_content():  # paragraphs and tables in document order
        if isinstance(block, Table):
            blocks.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in block.rows)
            continue
        text = block.text.strip()
        if not text:
            continue
        style = (block.style.name or "").lower() if block.style is not None else ""
        if style.startswith("heading"):
            level = "".join(ch for ch in style if ch.isdigit()) or "1"
            text = "#" * min(int(level), 6) + " " + text
        blocks.append(text)
    return [Page("\n\n".join(blocks))]


def _load_html(data: bytes, name: str) -> list[Page]:
    import trafilatura

    html = _decode_text(data, name)
    text = trafilatura.extract(
        html, output_format="markdown", include_comments=False, include_tables=True, favor_recall=True
    )
    return [Page(text or "")]


def load_document(path: Path, name: str | None = None, max_bytes: int = 50 * 2**20) -> LoadedDocument:
    """Read one file; raise IngestError with a clear message when it cannot be used."""
    name = name or path.name
    kind = FORMATS.get(Path(name).suffix.lower())
    if kind is None:
        supported = ", ".join(sorted({s for s in FORMATS}))
        raise IngestError(f"{name}: unsupported file type; use one of {supported}",
                          f"{name}：不支持的文件类型；请用 {supported} 之一")
    try:
        size = path.stat().st_size
    except OSError as error:
        raise IngestError(f"{name}: could not read the file", f"{name}：无法读取文件") from error
    if size == 0:
        raise IngestError(f"{name}: the file is empty", f"{name}：文件是空的")
    if size > max_bytes:
        raise IngestError(f"{name}: {size / 2**20:.1f} MB is over the {max_bytes / 2**20:.0f} MB limit",
                          f"{name}：{size / 2**20:.1f} MB，超过了 {max_bytes / 2**20:.0f} MB 的上限")
    data = path.read_bytes()
    if kind == "pdf":
        pages = _load_pdf(data, name)
    elif kind == "docx":
        pages = _load_docx(data, name)
    elif kind == "html":
        pages = _load_html(data, name)
    else:
        pages = [Page(_decode_text(data, name))]
    pages = [Page(clean_user_text(p.text), p.number) for p in pages]
    document = LoadedDocument(name, kind, [p for p in pages if p.text.strip()])
    if not document.pages:
        scanned = kind == "pdf"
        raise IngestError(
            f"{name}: no text found" + (" (a scanned PDF has images, not text; run OCR first)" if scanned else ""),
            f"{name}：没有找到文字" + ("（扫描的 PDF 只有图像、没有文字；请先做 OCR）" if scanned else ""),
        )
    return document


def document_from_text(name: str, text: str, kind: str = "markdown") -> LoadedDocument:
    """A document from text already in memory (the batch CLI's corpus lines, pasted text)."""
    text = clean_user_text(text)
    if not text.strip():
        raise IngestError(f"{name}: no text found", f"{name}：没有找到文字")
    return LoadedDocument(name, kind, [Page(text)])
