"""A shared demo meets every kind of input: each bad one gets a clear message through the API, and
afterwards the app still answers normal requests in the same session and in another one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

from tests import docfiles
from tests.conftest import RunningApp
from tests.questions import ANSWER, QUESTION

UPLOAD_MB = 2


@pytest.fixture(scope="module")
def strict_app() -> Iterator[RunningApp]:
    """Small limits so that 'oversize' stays cheap to test."""
    with RunningApp(["--max-upload-mb", str(UPLOAD_MB), "--max-prompt-tokens", "1024", "--rate-limit", "40"]) as app:
        yield app


def _still_works(app: RunningApp, client: Client, tmp_path: Path) -> None:
    doc = tmp_path / "check.md"
    doc.write_text(docfiles.ZORBLAT_MD)
    for c in (client, Client(app.url, verbose=False)):
        assert "check.md: 1 passage" in c.predict([handle_file(str(doc))], api_name="/ingest")
        answer, _ = c.predict("Who founded Zorblat Station?", api_name="/ask")
        assert "Maria Quell" in answer
    assert ANSWER in Client(app.url, verbose=False).predict(QUESTION, temperature=0.0,
                                                                  api_name="/chat")


def _bad_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """name → (file, what the message must say)."""
    empty = folder / "empty.pdf"
    empty.write_bytes(b"")
    corrupt = folder / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    plain = docfiles.pdf(folder / "plain.pdf", ["A secret page."])
    encrypted = docfiles.encrypted_pdf(folder / "locked.pdf", plain)
    binary = folder / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 64)
    junk = docfiles.junk_docx(folder / "junk.docx")
    scanned = docfiles.scanned_pdf(folder / "scan.pdf")
    return {
        "empty": (empty, "empty.pdf: the file is empty"),
        "corrupt": (corrupt, "corrupt.pdf: the PDF is damaged"),
        "encrypted": (encrypted, "locked.pdf: the PDF is"),
        "binary": (binary, "binary.txt: this looks like a binary file"),
        "junk": (junk, "junk.docx: not a valid Word (.docx) file"),
        "scanned": (scanned, "scan.pdf: no text found"),
    }


def test_bad_documents_each_get_their_message_and_good_ones_still_index(strict_app: RunningApp,
                                                                       tmp_path: Path) -> None:
    client = Client(strict_app.url, verbose=False)
    bad = _bad_files(tmp_path)
    good = tmp_path / "fruit.txt"
    good.write_text("Bananas are yellow and grow in bunches.")
    summary = client.predict([handle_file(str(p)) for p, _ in bad.values()] + [handle_file(str(good))],
                             api_name="/ingest")
    for _, message in bad.values():
        assert message in summary
    assert "fruit.txt: 1 passage" in summary
    _still_works(strict_app, client, tmp_path)


def test_an_oversize_upload_is_refused_with_its_size_limit(strict_app: RunningApp, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("word " * (UPLOAD_MB * 2**20 // 5 + 1000))
    client = Client(strict_app.url, verbose=False)
    with pytest.raises(Exception, match=r"(?i)(size|large|limit)"):
        client.predict([handle_file(str(big))], api_name="/ingest")
    _still_works(strict_app, client, tmp_path)


def test_a_megabyte_prompt_is_refused_quickly_and_clearly(strict_app: RunningApp, tmp_path: Path) -> None:
    client = Client(strict_app.url, verbose=False)
    with pytest.raises(Exception, match="characters; the limit is"):
        client.predict("spam " * 200_000, api_name="/chat")
    with pytest.raises(Exception, match="tokens"):
        client.predict("Hello! " * 800, api_name="/chat")
    _still_works(strict_app, client, tmp_path)


def test_control_characters_and_mixed_scripts_are_handled(strict_app: RunningApp) -> None:
    client = Client(strict_app.url, verbose=False)
    odd = "Wh\x00at is\u200b the capital\x1b[31m of Japan? Париж 東京 مرحبا 🙂"
    assert ANSWER in client.predict(odd, temperature=0.0, api_name="/chat")
    tokens = client.predict("naïve café 東京 🙂\x07", api_name="/tokenize")
    assert tokens["gpt"] and tokens["bert"]
    result = client.predict("Der Stürmer traf zweimal im Finale ⚽", "sport, business", "zero-shot",
                            api_name="/classify")
    assert result["label"] in {"sport", "business"}


def _csv(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("nolabel.csv", b"text,category\nhello,a\nbye,b\n", "needs columns"),
        ("oneclass.csv", b"text,label\n" + b"good movie,pos\n" * 20, "only one class"),
        ("huge.csv", b"text,label\n" + b"some text here,a\nother text here,b\n" * 50_001, "more than 50,000 rows"),
        ("latin1.csv", "text,label\ncafé crème,a\nthé,b\n".encode("latin-1"), "not UTF-8"),
        ("empty.csv", b"", "the file is empty"),
    ],
)
def test_bad_csvs_get_their_message(strict_app: RunningApp, tmp_path: Path, name: str, content: bytes,
                                    message: str) -> None:
    client = Client(strict_app.url, verbose=False)
    with pytest.raises(Exception, match=message):
        client.predict(handle_file(str(_csv(tmp_path, name, content))), 1, False, api_name="/fine_tune")
    for c in (client, Client(strict_app.url, verbose=False)):
        result = c.predict("The striker scored.", "sport, business", "zero-shot", api_name="/classify")
        assert result["label"] == "sport"


def test_no_file_outside_the_app_is_served(strict_app: RunningApp, tmp_path: Path) -> None:
    for path in ("/etc/passwd", "../../etc/passwd", str(Path(__file__).resolve())):
        response = httpx.get(f"{strict_app.url}gradio_api/file={path}")
        assert response.status_code in (403, 404), path
        assert "root:" not in response.text


def test_uploads_are_deleted_once_indexed_and_never_logged(strict_app: RunningApp, tmp_path: Path) -> None:
    secret = tmp_path / "secret-notes.md"
    secret.write_text("# Secret\n\nThe launch code is 7431.")
    with secret.open("rb") as handle:
        paths = httpx.post(f"{strict_app.url}gradio_api/upload", files={"files": ("secret-notes.md", handle)}).json()
    served = f"{strict_app.url}gradio_api/file={paths[0]}"
    assert httpx.get(served).status_code == 200  # until it is indexed, an upload is served by its random path
    alice = Client(strict_app.url, verbose=False)
    assert "secret-notes.md: 1 passage" in alice.predict([handle_file(str(secret))], api_name="/ingest")
    assert httpx.get(served).status_code in (403, 404)
    answer, _ = alice.predict("What is the launch code?", api_name="/ask")
    assert "7431" in answer
    assert "7431" not in strict_app.log.read_text()


def test_the_rate_limit_stops_one_session_not_the_others(strict_app: RunningApp) -> None:
    greedy = Client(strict_app.url, verbose=False)
    with pytest.raises(Exception, match="Too many requests"):
        for _ in range(60):
            greedy.predict("hello", api_name="/tokenize")
    assert Client(strict_app.url, verbose=False).predict("hello", api_name="/tokenize")["gpt"]
