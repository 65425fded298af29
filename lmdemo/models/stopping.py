"""Stop strings: cut a streamed reply where one appears, whatever engine produced it.

Text that could be the start of a stop string is held back until the next piece settles it, so
the user never sees half of a stop string; closing the underlying stream at the cut ends
generation there (the batching loops free the request's slot and cache).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from lmdemo.models.types import Chunk


def _held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest tail of `text` that begins some stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


def stop_at(stream: Iterator[Chunk], stops: Sequence[str]) -> Iterator[Chunk]:
    """The stream, ending with finish reason "stop" just before the first stop string (not shown)."""
    if not stops:
        yield from stream
        return
    held = ""
    try:
        for chunk in stream:
            held += chunk.text
            cuts = [i for i in (held.find(stop) for stop in stops) if i >= 0]
            if cuts:
                yield Chunk(held[: min(cuts)], chunk.completion_tokens, chunk.prompt_tokens, "stop")
                return
            if chunk.finish_reason is not None:
                yield Chunk(held, chunk.completion_tokens, chunk.prompt_tokens, chunk.finish_reason)
                return
            keep = _held_back(held, stops)
            if len(held) > keep:
                yield Chunk(held[: len(held) - keep], chunk.completion_tokens, chunk.prompt_tokens)
                held = held[len(held) - keep :]
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
