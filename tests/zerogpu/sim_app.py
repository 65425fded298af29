"""Run app.py under the real `spaces` package in ZeroGPU mode, with a CPU-only torch (tests only).

The test sets SPACES_ZERO_GPU=true and SPACES_ZERO_DEVICE_API_URL (a `DeviceAPI` on loopback).
Shims, as ../shared/research/zerogpu.md lists them: a CUDA version string for the package's
device tables, a picklable bad-fork probe, and CPU stand-ins for the worker's `init` (there is no
device to bind) and `move` (the packed weights are read back into CPU tensors instead of GPU
ones). Everything else is the package's own code: the torch emulation in the main process, the
packing at launch, one forked worker per call, pickling across, Stop, and its error messages.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[2]


def _not_in_bad_fork() -> bool:
    return False


def _init(nvidia_uuid: str) -> None:
    os.environ["CUDA_VISIBLE_DEVICES"] = nvidia_uuid


def _move_to_cpu(callback: Callable[[int], Any] | None = None) -> None:
    """What `spaces.zero.torch.move` does, with CPU tensors as the destination."""
    from spaces.zero.torch import patching

    for fake, original in patching.cuda_aliases.items():
        if original is not None:
            fake.data = original
    for pack in patching.tensor_packs:
        data = Path(pack.path()).read_bytes()
        offset = 0
        for tensor, size, aligned in [entry for batch in pack.batches for entry in batch] + list(pack.big_tensors):
            raw = torch.frombuffer(bytearray(data[offset : offset + size]), dtype=torch.uint8)
            real = torch.empty(0, dtype=tensor.dtype).set_(raw.untyped_storage(), 0, tensor.shape, tensor.stride())
            for fake in pack.fakes[tensor]:
                fake.data = real
            offset += aligned


def main() -> None:
    torch.version.cuda = "12.8"
    torch.cuda._is_in_bad_fork = _not_in_bad_fork
    if not hasattr(torch._C, "_cuda_init"):
        torch._C._cuda_init = lambda: None
    import spaces  # noqa: F401 - patches torch: this is the ZeroGPU start-up under test
    import spaces.zero.torch as zero_torch

    zero_torch.init = _init
    zero_torch.move = _move_to_cpu
    sys.path.insert(0, str(ROOT))
    import app

    app.main(sys.argv[1:])


if __name__ == "__main__":
    main()
