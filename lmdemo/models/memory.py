"""Running out of accelerator memory is one user's problem, not the server's.

A CUDA out-of-memory error during loading or generation becomes a clear message for that
request, and the cached blocks are returned so the next request (and everyone else's) runs.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from lmdemo.errors import UserError

log = logging.getLogger(__name__)


class OutOfMemoryError(UserError):
    """The request needed more GPU memory than was free."""


def free_memory() -> None:
    """Drop unreferenced tensors and hand cached GPU blocks back to the driver."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def is_out_of_memory(error: BaseException | str) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


@contextmanager
def out_of_memory_guard(action: str, advice: str) -> Iterator[None]:
    """Turn an out-of-memory error inside the block into OutOfMemoryError after freeing memory."""
    try:
        yield
    except Exception as error:
        if not is_out_of_memory(error) or isinstance(error, UserError):
            raise
        log.warning("out of memory while %s: %s", action, error)
        free_memory()
        raise OutOfMemoryError(f"The GPU ran out of memory while {action}. {advice}") from error
