"""Two loaded chat models answer one prompt at the same time (the arena): both replies stream together.

Each side runs in a thread of its own, so the faster model is not held back by the slower one;
closing the stream (Stop, a closed page) stops both replies.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from lmdemo.chat.service import ChatService, ReplyStats, ReplyUpdate
from lmdemo.errors import UserError
from lmdemo.models.types import SamplingParams


@dataclass(frozen=True)
class Side:
    """One side of a comparison so far; `done` once its reply ended (or failed: `error`)."""

    model: str
    text: str = ""
    stats: ReplyStats | None = None
    memory_mb: float = 0.0
    error: str = ""
    error_zh: str = ""  # the error in Chinese, when written
    done: bool = False

    def summary(self, chinese: bool = False) -> str:
        if self.error:
            return f"⚠️ {self.error_zh if chinese and self.error_zh else self.error}"
        if self.stats is None:
            return "…"
        return (f"{self.stats.tokens_per_second:.1f} tok/s · first token {self.stats.first_token_seconds:.2f} s · "
                f"{self.stats.completion_tokens} tokens · {self.memory_mb:,.0f} MB")

    def as_dict(self) -> dict:
        stats = self.stats
        return {
            "model": self.model, "text": self.text, "done": self.done, "error": self.error,
            "tokens_per_second": round(stats.tokens_per_second, 2) if stats else None,
            "first_token_seconds": round(stats.first_token_seconds, 3) if stats else None,
            "completion_tokens": stats.completion_tokens if stats else None,
            "memory_mb": round(self.memory_mb, 1),
        }


def compare(chat: ChatService, prompt: str, models: tuple[str, str], system_prompt: str, params: SamplingParams,
            memory_mb: Callable[[str], float]) -> Iterator[tuple[Side, Side]]:
    """Yield both sides whenever one of them has more; closing the iterator stops both replies."""
    if models[0] == models[1] or not all(models):
        raise UserError("Pick two different loaded models to compare.")
    sides = [Side(m, memory_mb=memory_mb(m)) for m in models]
    updates: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()

    def run(i: int) -> None:
        stream = chat.reply(prompt, [], system_prompt, params, model=models[i])
        try:
            for update in stream:
                if stop.is_set():
                    break
                updates.put((i, update))
        except UserError as error:
            updates.put((i, error))
        finally:
            stream.close()
            updates.put((i, None))

    threads = [threading.Thread(target=run, args=(i,), name=f"lmdemo-compare-{i}", daemon=True) for i in (0, 1)]
    for thread in threads:
        thread.start()
    try:
        finished = 0
        while finished < 2:
            i, item = updates.get()
            if item is None:
                finished += 1
                sides[i] = replace(sides[i], done=True)
            elif isinstance(item, UserError):
                sides[i] = replace(sides[i], error=str(item), error_zh=item.zh)
            else:
                update: ReplyUpdate = item
                sides[i] = replace(sides[i], text=update.text, stats=update.stats or sides[i].stats)
            yield sides[0], sides[1]
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
