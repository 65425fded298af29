"""The sort-free top-k/top-p warpers filter exactly like transformers' sorting ones."""

from __future__ import annotations

import torch
from transformers.generation.continuous_batching.cb_logits_processors import (
    ContinuousBatchingTopKLogitsWarper,
    ContinuousBatchingTopPLogitsWarper,
)
from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

from lmdemo.models.batch_sampling import TopKWithoutSort, TopPWithoutSort

VOCAB = 5000


def _float_arg(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(dtype=torch.int32)


def test_top_k_matches_the_sorting_warper_row_by_row() -> None:
    torch.manual_seed(0)
    scores = torch.randn(6, VOCAB) * 3
    top_k = torch.tensor([1, 5, 50, VOCAB, 200, 2], dtype=torch.int32)
    reference = ContinuousBatchingTopKLogitsWarper(TopKLogitsWarper(50))
    fast = TopKWithoutSort(reference)
    expected = reference(scores.clone(), top_k)
    got = fast(scores.clone(), top_k)
    assert torch.equal(torch.isinf(got), torch.isinf(expected))
    assert torch.equal(got[~torch.isinf(got)], expected[~torch.isinf(expected)])
    assert (~torch.isinf(got)).sum(-1).tolist() == [1, 5, 50, VOCAB, 200, 2]


def test_top_p_after_top_k_matches_the_sorting_warper() -> None:
    torch.manual_seed(1)
    scores = torch.randn(5, VOCAB) * 2
    top_k = TopKWithoutSort(ContinuousBatchingTopKLogitsWarper(TopKLogitsWarper(50)))
    limited = top_k(scores, torch.tensor([50, 20, 1, 50, 40], dtype=torch.int32))
    top_p = _float_arg([0.9, 0.5, 0.9, 1.0, 0.1])
    reference = ContinuousBatchingTopPLogitsWarper(TopPLogitsWarper(0.9))
    expected = reference(limited.clone(), top_p)
    got = TopPWithoutSort(reference)(limited.clone(), top_p)
    assert torch.equal(torch.isinf(got), torch.isinf(expected))
    assert torch.allclose(got[~torch.isinf(got)], expected[~torch.isinf(expected)])
    kept = (~torch.isinf(got)).sum(-1).tolist()
    assert kept[2] == 1 and kept[3] == 50 and kept[4] >= 1


def test_top_p_on_an_unfiltered_vocabulary_falls_back_to_the_sort() -> None:
    torch.manual_seed(2)
    scores = torch.randn(3, VOCAB)
    top_p = _float_arg([0.9, 0.5, 0.95])
    reference = ContinuousBatchingTopPLogitsWarper(TopPLogitsWarper(0.9))
    assert torch.equal(TopPWithoutSort(reference)(scores.clone(), top_p), reference(scores.clone(), top_p))
