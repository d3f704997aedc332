"""Process-wide objects built on first use, once, even when many threads ask at the same time.

``functools.cache`` may call a slow factory twice under concurrency (two 4-second Presidio
builds, two detector loads); this double-checked lock does not.
"""

from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class LoadOnce(Generic[T]):
    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._value: T | None = None
        self._lock = threading.Lock()

    def __call__(self) -> T:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._factory()
        return self._value
