"""The Lab's operations on the configured models; used by the Lab tab and its endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lmdemo.errors import UserError
from lmdemo.lab import introspect
from lmdemo.text import clean_user_text

if TYPE_CHECKING:
    from lmdemo.models.embedding import LocalEmbedder
    from lmdemo.models.manager import ModelManager

Which = Literal["gpt", "bert"]
MAX_CHARS = 2000


def _text(text: str) -> str:
    text = clean_user_text(text)
    if not text.strip():
        raise UserError("Type some text first.")
    if len(text) > MAX_CHARS:
        raise UserError(f"The Lab looks at up to {MAX_CHARS} characters at a time; shorten the text.")
    return text


class LabService:
    """Tokens, next-token distributions, attention maps and embedding geometry."""

    def __init__(self, models: ModelManager, embedder: LocalEmbedder) -> None:
        self._models = models
        self._embedder = embedder

    def tokenize(self, text: str) -> dict[str, list[introspect.Token]]:
        """The same text through the GPT-style (BPE) and BERT-style (WordPiece) tokenizers."""
        text = _text(text)
        return {
            "gpt": introspect.tokens(self._models.chat().tokenizer, text),
            "bert": introspect.tokens(self._models.encoder().tokenizer, text),
        }

    def next_token(self, prompt: str, top_k: int = 10, temperature: float = 1.0, top_p: float = 1.0,
                   show: int = 10) -> list[dict[str, Any]]:
        chat = self._models.chat()
        return introspect.next_token(chat.model, chat.tokenizer, _text(prompt), temperature, top_k, top_p, show)

    def attention(self, text: str, which: Which, layer: int, head: int | None) -> tuple[list[str], np.ndarray]:
        loaded = self._models.chat_eager() if which == "gpt" else self._models.encoder_eager()
        try:
            return introspect.attention(loaded.model, loaded.tokenizer, _text(text), layer, head)
        except ValueError as error:
            raise UserError(str(error)) from error

    def shape(self, which: Which) -> tuple[int, int]:
        """(layers, heads) of a model, for the sliders."""
        config = (self._models.chat() if which == "gpt" else self._models.encoder_eager()).model.config
        return int(config.num_hidden_layers), int(config.num_attention_heads)

    def embeddings(self, sentences: list[str]) -> tuple[np.ndarray, np.ndarray]:
        sentences = [_text(s) for s in sentences if s.strip()]
        if len(sentences) < 2:
            raise UserError("Type at least two sentences, one per line.")
        return introspect.similarity_and_projection(self._embedder.embed(sentences))
