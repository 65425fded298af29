"""How the services run work on the accelerator-resident models: a `ModelRunner` and its tasks.

A *model task* is a module-level function `task(models, *args)` whose arguments and results
(or yielded values) are plain data: strings, numbers, lists, dicts, bytes. In a normal process
the runner calls it directly; on a ZeroGPU Space (`lmdemo.hosting.zerogpu`) the same task runs
inside a GPU call in a forked worker, where only plain data can cross. Writing every
GPU-touching job as such a task is what lets the hosting mode be one decision at start-up
instead of a branch in every handler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from lmdemo.models.manager import ModelManager

F = TypeVar("F", bound=Callable[..., Any])
Seconds = Callable[..., float]
PLAIN = (str, bytes, int, float, bool, type(None))


def model_task(seconds: Seconds) -> Callable[[F], F]:
    """Mark `fn(models, *args)` as a model task; `seconds(max_seconds, *args)` estimates its GPU time.

    The estimate may raise a UserError that says how to shrink a job too big for one GPU call.
    """

    def mark(fn: F) -> F:
        fn.gpu_seconds = seconds  # type: ignore[attr-defined]
        return fn

    return mark


def check_plain(value: Any, where: str = "value") -> Any:
    """Return `value` if it is plain data (what can cross a process boundary); raise TypeError otherwise."""
    if isinstance(value, PLAIN):
        return value
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_plain(item, f"{where}[{i}]")
        return value
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has a non-string key {key!r}")
            check_plain(item, f"{where}[{key!r}]")
        return value
    raise TypeError(f"{where} is a {type(value).__name__}; model tasks pass only plain data")


class ModelRunner(Protocol):
    """Runs model tasks: `call` for one result, `stream` for a generator task."""

    def call(self, task: Callable[..., Any], *args: Any) -> Any: ...

    def stream(self, task: Callable[..., Iterator[Any]], *args: Any) -> Iterator[Any]: ...


class InProcessRunner:
    """Runs tasks in this process (laptops, GPU boxes, CPU Spaces) on the models `models()` gives when
    a task runs (the app's pool: after a switch, the new default model)."""

    def __init__(self, models: Callable[[], ModelManager]) -> None:
        self._models = models

    def call(self, task: Callable[..., Any], *args: Any) -> Any:
        return task(self._models(), *args)

    def stream(self, task: Callable[..., Iterator[Any]], *args: Any) -> Iterator[Any]:
        stream = task(self._models(), *args)
        try:
            yield from stream
        finally:
            stream.close()
