"""One process-wide lock around every model load.

transformers builds models inside global "empty weights" contexts, so two threads loading
models at the same moment (say the embedder and the generator, warming up while the first
questions arrive) can fail with "Cannot copy out of meta tensor". Loads are rare and
short next to answering, so serializing them costs nothing that matters.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import TypeVar

T = TypeVar("T")

MODEL_LOAD_LOCK = threading.RLock()


def shared_model(maxsize: int) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator for a model getter: one instance per arguments per process, built under
    MODEL_LOAD_LOCK, so two first callers arriving together build it once (``lru_cache``
    alone lets both build). ``cache_clear`` is kept for tests."""

    def decorate(factory: Callable[..., T]) -> Callable[..., T]:
        cached = lru_cache(maxsize=maxsize)(factory)
        signature = inspect.signature(factory)

        @wraps(factory)
        def get(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()  # get() and get(None) are one instance when None is the default
            with MODEL_LOAD_LOCK:
                return cached(*bound.args)

        get.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        return get

    return decorate


def apply_torch_threads(threads: int | None) -> None:
    """Set torch's CPU thread count for this process (``None`` leaves torch's default).

    On a small machine shared with other jobs, one thread per process avoids the
    oversubscription that made two-thread embedding many times slower than one."""
    if threads is None:
        return
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
