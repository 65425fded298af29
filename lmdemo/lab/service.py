"""The Lab's operations on the configured models; used by the Lab tab and its endpoints.

What runs the chat model is a model task (`next_token_task`, `attention_task`), so on ZeroGPU it
runs in a GPU call; tokenizers and the encoder (on the CPU there) are used directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lmdemo.models.coverage import Coverage, coverage
from lmdemo.errors import UserError
from lmdemo.lab import introspect
from lmdemo.models.runner import model_task
from lmdemo.text import clean_user_text

if TYPE_CHECKING:
    from lmdemo.models.embedding import LocalEmbedder
    from lmdemo.models.manager import ModelManager
    from lmdemo.models.runner import ModelRunner

Which = Literal["gpt", "bert"]
MAX_CHARS = 2000


def _text(text: str) -> str:
    text = clean_user_text(text)
    if not text.strip():
        raise UserError("Type some text first.", "请先输入一些文字。")
    if len(text) > MAX_CHARS:
        raise UserError(f"The Lab looks at up to {MAX_CHARS} characters at a time; shorten the text.",
                        f"“模型内部”一次最多看 {MAX_CHARS} 个字符；请缩短文本。")
    return text


@model_task(lambda max_seconds, *args: 10.0)
def next_token_task(models: ModelManager, prompt: str, temperature: float, top_k: int, top_p: float,
                    show: int) -> list[dict[str, Any]]:
    chat = models.chat()
    return introspect.next_token(chat.model, chat.tokenizer, prompt, temperature, top_k, top_p, show)


def _attention(loaded: Any, text: str, layer: int, head: int | None) -> tuple[list[str], np.ndarray]:
    try:
        return introspect.attention(loaded.model, loaded.tokenizer, text, layer, head)
    except ValueError as error:
        raise UserError(str(error)) from error


@model_task(lambda max_seconds, *args: 30.0)  # the first call in a worker loads the eager-attention copy
def attention_task(models: ModelManager, text: str, layer: int, head: int | None) -> dict[str, Any]:
    """The chat model's attention (its eager-attention copy, which returns the weights)."""
    names, matrix = _attention(models.chat_eager(), text, layer, head)
    return {"tokens": names, "matrix": matrix.tolist()}


class LabService:
    """Tokens, next-token distributions, attention maps and embedding geometry."""

    def __init__(self, models: ModelManager, embedder: LocalEmbedder, runner: ModelRunner) -> None:
        self._models = models
        self._embedder = embedder
        self._runner = runner

    def tokenize(self, text: str) -> dict[str, list[introspect.Token]]:
        """The same text through the GPT-style (BPE) and BERT-style (WordPiece) tokenizers."""
        text = _text(text)
        return {
            "gpt": introspect.tokens(self._models.chat().tokenizer, text),
            "bert": introspect.tokens(self._models.encoder().tokenizer, text),
        }

    def coverage(self, text: str) -> dict[str, Coverage]:
        """How many of the text's characters each tokenizer knows (WordPiece maps the others to [UNK])."""
        text = _text(text)
        return {
            "gpt": coverage(self._models.chat().tokenizer, text),
            "bert": coverage(self._models.encoder().tokenizer, text),
        }

    def next_token(self, prompt: str, top_k: int = 10, temperature: float = 1.0, top_p: float = 1.0,
                   show: int = 10) -> list[dict[str, Any]]:
        return self._runner.call(
            next_token_task, _text(prompt), float(temperature), int(top_k), float(top_p), int(show)
        )

    def attention(self, text: str, which: Which, layer: int, head: int | None) -> tuple[list[str], np.ndarray]:
        if which == "gpt":
            result = self._runner.call(attention_task, _text(text), int(layer), head)
            return result["tokens"], np.asarray(result["matrix"], dtype=np.float32)
        return _attention(self._models.encoder_eager(), _text(text), layer, head)

    def shape(self, which: Which) -> tuple[int, int]:
        """(layers, heads) of a model, for the sliders."""
        config = (self._models.chat() if which == "gpt" else self._models.encoder_eager()).model.config
        return int(config.num_hidden_layers), int(config.num_attention_heads)

    def embeddings(self, sentences: list[str]) -> tuple[np.ndarray, np.ndarray]:
        sentences = [_text(s) for s in sentences if s.strip()]
        if len(sentences) < 2:
            raise UserError("Type at least two sentences, one per line.", "请至少输入两句话，每行一句。")
        return introspect.similarity_and_projection(self._embedder.embed(sentences))
