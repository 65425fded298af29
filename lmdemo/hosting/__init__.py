"""Where the app runs decides how models are loaded and called; decided once, at start-up.

- normal (laptop, GPU box, CPU Space): models run in this process, chat through the batching loop;
- ZeroGPU (`zerogpu.py`): every model task is one GPU call in a forked worker.
`spaces_check.py` validates the repository as a Space (`python -m lmdemo check-space`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lmdemo.hosting import zerogpu

if TYPE_CHECKING:
    from lmdemo.services import Services

log = logging.getLogger(__name__)


def start(services: Services) -> None:
    """Load the models the way the hosting mode needs before the app starts serving."""
    if services.settings.zero_gpu:
        zerogpu.load_at_start(services.models)
        zerogpu.assert_no_model_threads()
        log.info("ZeroGPU mode: models loaded at start-up; no model thread in this process, each model task "
                 "runs in a GPU call of at most %d s", services.settings.zero_gpu_max_seconds)
    elif services.settings.preload:
        services.preload()
