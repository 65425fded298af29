"""fp16 decoding copies on the CPU: fp32's function within fp16 rounding, exactly fp32 for many rows."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lmdemo.models.cpu_linear import HALF_ROWS, SAFE_MAGNITUDE, CpuLinear, speed_up_linears
from lmdemo.models.loading import load_causal_lm


class _Tiny(nn.Module):
    """Embedding, two linear layers; `scale` blows up the second layer's input."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(10, 64)
        self.up = nn.Linear(64, 96)
        self.down = nn.Linear(96, 32, bias=False)
        self.scale = scale

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.down(self.up(self.embed(input_ids)) * self.scale)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_few_rows_use_the_fp16_copy_more_rows_fp32() -> None:
    model, reference = _Tiny(), _Tiny()
    assert speed_up_linears(model, [1, 2, 3]) == 2
    assert isinstance(model.up, CpuLinear) and model.up.weight.dtype == torch.float32
    assert model.up.weight_fp16 is not None and model.up.weight_fp16.dtype == torch.float16
    few = torch.tensor([[4]])
    many = torch.randint(0, 10, (2, HALF_ROWS + 3))
    with torch.inference_mode():
        out = model(few)
        assert out.dtype == torch.float32 and out.shape == (1, 1, 32)
        assert 0 < _relative(out, reference(few)) < 2e-3  # rounded to fp16, and only that
        out = model(many)
        assert out.shape == (2, HALF_ROWS + 3, 32)
        assert torch.equal(out, reference(many))


def test_layers_near_the_fp16_limit_keep_fp32_only() -> None:
    model, reference = _Tiny(scale=SAFE_MAGNITUDE * 10), _Tiny(scale=SAFE_MAGNITUDE * 10)
    assert speed_up_linears(model, [1, 2, 3]) == 2
    assert model.up.weight_fp16 is not None and model.down.weight_fp16 is None
    with torch.inference_mode():
        out = model(torch.tensor([[4]]))
        assert torch.isfinite(out).all()
        assert _relative(out, reference(torch.tensor([[4]]))) < 2e-3


def test_chat_model_on_cpu_decodes_with_fp16_copies(tiny_llama_dir: Path, tmp_path: Path) -> None:
    plain = load_causal_lm(str(tiny_llama_dir), device="cpu", cache_dir=tmp_path, cpu_decode="fp32")
    fast = load_causal_lm(str(tiny_llama_dir), device="cpu", cache_dir=tmp_path)
    assert plain.report.dtype == "float32"
    assert fast.report.dtype == "float32 (fp16 copy for decoding)"
    assert fast.report.footprint_mb > plain.report.footprint_mb
    assert isinstance(fast.model.lm_head, CpuLinear)
    tied = plain.model.lm_head.weight is plain.model.model.embed_tokens.weight
    assert (fast.model.lm_head.weight is fast.model.model.embed_tokens.weight) == tied
    ids = torch.tensor([[1, 5, 9, 2, 7]])
    with torch.inference_mode():
        assert torch.equal(fast.model(input_ids=ids).logits, plain.model(input_ids=ids).logits)
        one = ids[:, :1]
        assert 0 < _relative(fast.model(input_ids=one).logits, plain.model(input_ids=one).logits) < 2e-3
