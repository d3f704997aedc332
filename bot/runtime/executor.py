"""Bounded concurrency with back-pressure and a graceful shutdown.

At most ``workers`` questions run at once and at most ``queue_size`` wait; one more is
refused at once (``submit`` returns False) so the caller can tell the asker to retry,
instead of piling up work until memory runs out. On shutdown, intake stops, the queue
keeps draining for ``grace_s``, and whatever has not finished by then (waiting or still
running) is handed back so it can be persisted and retried after the restart.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

J = TypeVar("J")


@dataclass
class ShutdownReport(Generic[J]):
    finished: int  # jobs completed during the grace period
    unfinished: list[J] = field(default_factory=list)  # never started or still running at the deadline
    seconds: float = 0.0


class BoundedExecutor(Generic[J]):
    """``handler(job)`` on ``workers`` threads fed by a FIFO of at most ``queue_size`` jobs."""

    def __init__(
        self,
        handler: Callable[[J], Any],
        *,
        workers: int,
        queue_size: int,
        name: str = "ragbot-worker",
        metrics: Any = None,
    ) -> None:
        if workers < 1 or queue_size < 1:
            raise ValueError("workers and queue_size must be at least 1")
        self.handler = handler
        self.queue_size = queue_size
        self.metrics = metrics
        self._waiting: collections.deque[tuple[J, float]] = collections.deque()  # (job, submitted at)
        self._running: dict[int, J] = {}
        self._handed_back: set[int] = set()  # worker threads whose running job shutdown handed back
        self._cond = threading.Condition()
        self._accepting = True
        self._stopping = False
        self._completed = 0
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    # --- intake -------------------------------------------------------------------------
    def submit(self, job: J) -> bool:
        """Queue ``job``; False when the queue is full or the executor is shutting down."""
        with self._cond:
            if not self._accepting or len(self._waiting) >= self.queue_size:
                if self.metrics is not None:
                    self.metrics.rejected.inc()
                return False
            self._waiting.append((job, time.perf_counter()))
            self._gauges()
            self._cond.notify()
            return True

    def wait_for_room(self, timeout: float) -> bool:
        """Block until a job would be queued (True) or ``timeout`` passes / intake stops (False):
        for a caller that must not be refused, e.g. questions kept over a restart."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._accepting and len(self._waiting) >= self.queue_size:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return self._accepting

    @property
    def accepting(self) -> bool:
        return self._accepting

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._waiting) + len(self._running)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is waiting or running."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._waiting or self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    # --- work ---------------------------------------------------------------------------
    def _work(self) -> None:
        me = threading.get_ident()
        while True:
            with self._cond:
                while not self._waiting and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job, submitted = self._waiting.popleft()
                self._running[me] = job
                self._gauges()
            try:
                self.handler(job)
            except Exception:  # noqa: BLE001 - the handler owns its errors; a worker never dies of one
                log.exception("question handler failed")
            finally:
                if self.metrics is not None:  # queue wait + handling: what the asker waits after the ack
                    self.metrics.end_to_end_seconds.observe(time.perf_counter() - submitted)
                with self._cond:
                    self._running.pop(me, None)
                    self._completed += 1
                    self._gauges()
                    self._cond.notify_all()

    def handed_back(self) -> bool:
        """In a worker thread: whether shutdown handed this thread's job back for a retry after
        the restart. Its handler must then neither store nor post a result (a generator closed
        under it fails the job, and that failure would be sent instead of the real answer)."""
        with self._cond:
            return threading.get_ident() in self._handed_back

    def _gauges(self) -> None:
        if self.metrics is not None:
            self.metrics.queue_depth.set(len(self._waiting))
            self.metrics.in_flight.set(len(self._running))

    # --- shutdown -----------------------------------------------------------------------
    def shutdown(self, grace_s: float) -> ShutdownReport[J]:
        """Stop intake, let work finish for ``grace_s``, then hand back what did not."""
        started = time.monotonic()
        with self._cond:
            if self._stopping:  # a second call (e.g. close() after a graceful stop) returns at once
                return ShutdownReport(finished=0)
            self._accepting = False
            before = self._completed
        self.drain(grace_s)
        with self._cond:
            self._stopping = True
            unfinished = list(self._running.values()) + [job for job, _ in self._waiting]
            self._handed_back = set(self._running)
            self._waiting.clear()
            finished = self._completed - before
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(0.05)
        if unfinished:
            log.warning("shutdown: %d question(s) unfinished after %.1fs; handing them back for retry", len(unfinished), grace_s)
        return ShutdownReport(finished=finished, unfinished=unfinished, seconds=round(time.monotonic() - started, 3))
