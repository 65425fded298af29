"""ZeroGPU Spaces: every model task runs inside a `@spaces.GPU` call, in a forked worker.

What the `spaces` package does (0.51, see ../shared/research/zerogpu.md): imported with
SPACES_ZERO_GPU set, it patches torch so that a model moved to "cuda" in the importing thread
becomes emulated tensors; every call of a decorated function forks a worker that gets a real
GPU and the real weights; arguments, results and yielded values are pickled across. A thread of
the main process that reads those weights sees zeros, silently. So in ZeroGPU mode:
- models are loaded in the main thread at start-up (`load_at_start`), and no model thread runs
  in the main process (`assert_no_model_threads`; a forward hook makes a stray call fail loudly);
- every model task goes through `_gpu_call` / `_gpu_stream`, the module-level decorated
  functions below, with plain data only; their duration comes from the task's own estimate;
- failures inside the worker come back as plain messages, and ZeroGPU's own errors (quota, queue,
  worker) become UserErrors, so every tab shows them like its other refusals.
Off ZeroGPU (`--zero-gpu` on a laptop, the tests) the same functions run inline.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from lmdemo.errors import GpuUnavailableError, UserError
from lmdemo.models.runner import check_plain
from lmdemo.settings import zero_gpu_space

if TYPE_CHECKING:
    from lmdemo.models.manager import ModelManager

log = logging.getLogger(__name__)

MIN_SECONDS = 10
# Threads that would run a model in the main process: our own, and transformers' batching loop.
MODEL_THREAD_MARKERS = ("lmdemo-", "_run_generation_loop")

_models: Callable[[], ModelManager] | None = None  # the models tasks run on, looked up when they run
_max_seconds: float = 120.0
_active = 0
_active_lock = threading.Lock()


def import_spaces_first(env: Mapping[str, str] = os.environ) -> None:
    """On a ZeroGPU Space, import `spaces` before anything touches CUDA (it refuses to load after)."""
    if zero_gpu_space(env):
        import spaces  # noqa: F401


def _duration(task: Callable[..., Any], args: list[Any]) -> int:
    """Seconds to ask ZeroGPU for: the task's estimate, bounded to [MIN_SECONDS, the configured maximum]."""
    return round(min(max(task.gpu_seconds(_max_seconds, *args), MIN_SECONDS), _max_seconds))


def _gpu(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`spaces.GPU` with our duration where the package is installed (a no-op off ZeroGPU), else `fn`."""
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(duration=_duration)(fn)


@contextmanager
def _inside(task: Callable[..., Any]) -> Iterator[dict[str, Any]]:
    """Count an active GPU call (the forward hook allows the chat model only then) and log how it ended."""
    global _active
    record: dict[str, Any] = {"items": 0, "end": "stopped"}
    started = time.perf_counter()
    with _active_lock:
        _active += 1
    try:
        yield record
    finally:
        with _active_lock:
            _active -= 1
        log.info(
            "zerogpu task %s in process %d: %s after %d items in %.2f s",
            task.__name__, os.getpid(), record["end"], record["items"], time.perf_counter() - started,
        )


def _failure(error: Exception) -> dict[str, Any]:
    """A failure inside the worker as plain data (only gr.Error would survive ZeroGPU's pickling)."""
    if isinstance(error, UserError):
        return {"error": str(error), "zh": error.zh, "busy": isinstance(error, GpuUnavailableError)}
    log.exception("zerogpu task failed")
    return {"error": f"The GPU task failed ({type(error).__name__}: {error}). Please try again.", "busy": False}


@_gpu
def _gpu_call(task: Callable[..., Any], args: list[Any]) -> dict[str, Any]:
    """Run one task on the GPU and return {"value": result} or {"error": message}."""
    with _inside(task) as record:
        try:
            value = check_plain(task(_models(), *args), "result")
        except Exception as error:
            record["end"] = "failed"
            return _failure(error)
        record["end"] = "finished"
        return {"value": value}


@_gpu
def _gpu_stream(task: Callable[..., Iterator[Any]], args: list[Any]) -> Iterator[dict[str, Any]]:
    """Stream a generator task on the GPU; Stop closes this generator and `finally` ends the task's work."""
    with _inside(task) as record:
        stream = task(_models(), *args)
        try:
            for item in stream:
                record["items"] += 1
                yield {"value": check_plain(item, "yielded value")}
            record["end"] = "finished"
        except Exception as error:
            record["end"] = "failed"
            yield _failure(error)
        finally:
            stream.close()


def _unwrap(envelope: dict[str, Any]) -> Any:
    if "error" in envelope:
        raise (GpuUnavailableError if envelope["busy"] else UserError)(envelope["error"], envelope.get("zh", ""))
    return envelope["value"]


@contextmanager
def _as_user_errors() -> Iterator[None]:
    """ZeroGPU's own failures (raised in this process as gr.Error with a title) → UserErrors."""
    try:
        yield
    except UserError:
        raise
    except Exception as error:
        title = str(getattr(error, "title", "") or "").lower()
        message = str(getattr(error, "message", "") or error)
        if any(word in title for word in ("quota", "queue", "credits", "client")):
            raise GpuUnavailableError(f"No GPU for this request right now: {message}") from error
        if "duration" in title:
            raise UserError(f"{message}. Ask for fewer new tokens or a smaller job.") from error
        log.exception("ZeroGPU call failed")
        if "worker" in title:
            raise UserError(f"The GPU worker stopped ({message}). Please try again.") from error
        raise UserError(f"ZeroGPU could not run this request ({type(error).__name__}: {message}).") from error


class ZeroGPURunner:
    """Runs every model task as one ZeroGPU call; refuses up front a task too long for one call."""

    def __init__(self, models: Callable[[], ModelManager], max_seconds: float) -> None:
        global _models, _max_seconds
        _models, _max_seconds = models, float(max_seconds)

    def seconds(self, task: Callable[..., Any], args: tuple[Any, ...]) -> int:
        """The duration asked for (the estimate may raise a UserError that says how to shrink the job)."""
        return _duration(task, list(args))

    def call(self, task: Callable[..., Any], *args: Any) -> Any:
        self.seconds(task, args)
        plain = check_plain(list(args), "arguments")
        with _as_user_errors():
            envelope = _gpu_call(task, plain)
        return _unwrap(envelope)

    def stream(self, task: Callable[..., Iterator[Any]], *args: Any) -> Iterator[Any]:
        self.seconds(task, args)
        plain = check_plain(list(args), "arguments")
        with _as_user_errors():
            stream = _gpu_stream(task, plain)
            try:
                for envelope in stream:
                    yield _unwrap(envelope)
            finally:
                stream.close()


def _refuse_outside_calls(module: Any, args: Any) -> None:
    if _active == 0:
        raise RuntimeError(
            "ZeroGPU mode: the chat model ran outside a GPU call; in the main process its weights read as zeros"
        )


def load_at_start(models: ModelManager) -> None:
    """Load the models now, in the main thread, as ZeroGPU prescribes; the chat model refuses stray calls."""
    chat = models.chat()
    models.encoder()
    chat.model.register_forward_pre_hook(_refuse_outside_calls)


def model_threads() -> list[str]:
    """Names of live threads that would run a model in this process."""
    return [t.name for t in threading.enumerate() if any(marker in t.name for marker in MODEL_THREAD_MARKERS)]


def assert_no_model_threads() -> None:
    """ZeroGPU mode must have no batching loop or other model thread in the main process."""
    running = model_threads()
    if running:
        raise RuntimeError(f"ZeroGPU mode: model threads running in the main process: {', '.join(running)}")
