"""fp16 copies of a chat model's weights for decoding on the CPU: the same tokens, faster.

Decoding a token multiplies every weight by one vector, so its speed is set by the bytes of
weight read. An fp16 copy is half the bytes, and PyTorch's fp16 matrix-vector kernel is fast
even on AVX2-only CPUs (this 2-core machine: 30 products of a 1536x576 weight in 3.4 ms against
8.5 ms in fp32). Products over more rows (a prompt's prefill, several requests batched) have no
fast fp16 kernel on such CPUs (8 rows: 19.2 ms against 13.1 ms), so those keep the fp32 weight.
The copy costs half the model's size again in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

# Up to this many rows the fp16 copy is used (4 rows: 10.1 ms against 15.4 ms in fp32).
HALF_ROWS = 4
# A layer whose inputs or outputs reach this size on the calibration prompt gets no fp16 copy:
# fp16 stops at 65504, and this leaves 8x headroom for other prompts.
SAFE_MAGNITUDE = 8192.0


class CpuLinear(nn.Linear):
    """`nn.Linear` that multiplies a few rows by an fp16 copy of its weight, when it has one."""

    weight_fp16: torch.Tensor | None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight_fp16 is None or x.numel() > HALF_ROWS * self.in_features:
            return super().forward(x)
        out = F.linear(x.to(torch.float16), self.weight_fp16).to(x.dtype)
        return out if self.bias is None else out + self.bias


def _magnitudes(model: nn.Module, sample_ids: Sequence[int]) -> dict[str, float]:
    """The largest input or output value of each linear layer on one forward pass."""
    peaks: dict[str, float] = {}
    hooks = []
    for name, module in model.named_modules():
        if type(module) is nn.Linear:
            def record(module: nn.Module, args: tuple, out: torch.Tensor, name: str = name) -> None:
                peaks[name] = max(float(args[0].abs().max()), float(out.abs().max()))

            hooks.append(module.register_forward_hook(record))
    try:
        with torch.inference_mode():
            model(input_ids=torch.tensor([list(sample_ids)]))
    finally:
        for hook in hooks:
            hook.remove()
    return peaks


def speed_up_linears(model: nn.Module, sample_ids: Sequence[int]) -> int:
    """Turn each fp32 linear layer of `model` into a `CpuLinear`; return how many.

    `sample_ids` (a short chat prompt) calibrates: layers whose values come near fp16's limit
    on it get no fp16 copy.
    """
    peaks = _magnitudes(model, sample_ids)
    converted = 0
    for name, module in model.named_modules():
        if type(module) is nn.Linear and module.weight.dtype == torch.float32:
            module.__class__ = CpuLinear
            safe = peaks.get(name, 0.0) < SAFE_MAGNITUDE
            half = module.weight.detach().to(torch.float16) if safe else None
            module.register_buffer("weight_fp16", half, persistent=False)
            converted += 1
    return converted
