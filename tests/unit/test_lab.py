"""Lab numbers on tiny random models: distributions, attention, tokens, embedding geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lmdemo.lab import introspect
from lmdemo.models.loading import load_causal_lm, load_encoder_transformer


@pytest.fixture(scope="module")
def llama(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    return load_causal_lm(str(tiny_llama_dir), device="cpu", cache_dir=tmp_path_factory.mktemp("c"),
                          attn_implementation="eager")


@pytest.fixture(scope="module")
def bert(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    return load_encoder_transformer(str(tiny_bert_dir), device="cpu", cache_dir=tmp_path_factory.mktemp("c"))


def test_distribution_over_the_whole_vocabulary_sums_to_one() -> None:
    logits = torch.randn(500)
    for temperature, top_k, top_p in [(1.0, 0, 1.0), (0.7, 50, 1.0), (1.3, 0, 0.9), (0.5, 20, 0.8)]:
        probs = introspect.sampling_distribution(logits, temperature, top_k, top_p)
        assert probs.shape == (500,) and torch.isclose(probs.sum(), torch.tensor(1.0))
        if top_k:
            assert int((probs > 0).sum()) <= top_k


def test_temperature_zero_puts_all_mass_on_the_argmax() -> None:
    logits = torch.randn(300)
    probs = introspect.sampling_distribution(logits, 0.0, 0, 1.0)
    assert probs[logits.argmax()] == 1.0 and probs.sum() == 1.0
    cold = introspect.sampling_distribution(logits, 0.01, 0, 1.0)
    assert cold[logits.argmax()] > 0.99


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    probs = introspect.sampling_distribution(logits, 1.0, 0, 0.75)
    assert torch.allclose(probs, torch.tensor([0.625, 0.375, 0.0, 0.0]))


def test_next_token_lists_probabilities(llama) -> None:
    rows = introspect.next_token(llama.model, llama.tokenizer, "Paris is", temperature=1.0, show=5)
    assert len(rows) == 5
    assert [r["probability"] for r in rows] == sorted((r["probability"] for r in rows), reverse=True)
    assert all(abs(r["probability"] - r["raw"]) < 1e-6 for r in rows)


def test_causal_attention_rows_sum_to_one_and_the_upper_triangle_is_empty(llama) -> None:
    names, matrix = introspect.attention(llama.model, llama.tokenizer, "the quick brown fox", 1, 0)
    assert matrix.shape == (len(names), len(names))
    assert np.allclose(matrix.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.triu(matrix, k=1), 0.0)
    _, average = introspect.attention(llama.model, llama.tokenizer, "the quick brown fox", 0, None)
    assert np.allclose(average.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="layer"):
        introspect.attention(llama.model, llama.tokenizer, "x", 9, None)


def test_bert_attention_is_bidirectional(bert) -> None:
    names, matrix = introspect.attention(bert.model, bert.tokenizer, "paris is the capital of france", 0, None)
    assert names[0] == "[CLS]" and names[-1] == "[SEP]"
    assert np.allclose(matrix.sum(axis=1), 1.0, atol=1e-5)
    assert np.triu(matrix, k=1).sum() > 0.1


def test_tokens_decode_back_to_the_text(llama, bert) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    ids = [t.id for t in introspect.tokens(llama.tokenizer, text)]
    assert llama.tokenizer.decode(ids, skip_special_tokens=True) == text
    bert_tokens = introspect.tokens(bert.tokenizer, text)
    assert bert_tokens[0].special and bert_tokens[-1].special
    assert bert.tokenizer.decode([t.id for t in bert_tokens], skip_special_tokens=True) == text.lower()


def test_similarity_and_pca_projection() -> None:
    vectors = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 0, 1]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity, projection = introspect.similarity_and_projection(vectors)
    assert np.allclose(np.diag(similarity), 1.0) and similarity[0, 1] > similarity[0, 2]
    assert projection.shape == (3, 2)
    assert np.linalg.norm(projection[0] - projection[1]) < np.linalg.norm(projection[0] - projection[2])
