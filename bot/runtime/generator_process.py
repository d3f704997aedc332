"""The generator in a child process that is restarted when it crashes, losing no question.

A model can die in ways a thread cannot catch (a segfault in a kernel, the OOM killer, a
hung decode). Run in-process, that takes the whole bot down with every queued question.
Here the real generator runs in a spawned child; the parent keeps every request it sent
until the answer comes back. When the child dies, the parent starts a new one and sends
the unanswered requests again (generation has no side effects, so a retry is safe), up to
``max_attempts`` per request; after that the asker gets a polite :class:`GeneratorError`.
A child that stays silent for a whole request deadline is killed and replaced the same way
(one that is merely slow, still answering other requests, is left alone: the late request
alone fails).

Requests are sent as soon as they arrive, so the child's own batching still sees them
together.
"""

from __future__ import annotations

import itertools
import logging
import signal
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from adapters.base import Generation, GeneratorError, GeneratorTimeout, Generator, Passage
from bot.settings import Settings

log = logging.getLogger(__name__)

GeneratorFactory = Callable[[Settings], Generator]
_GRACE_S = 15.0  # on top of generation_timeout_s, before the parent decides the child is hung
LOAD_LIMIT_S = 900.0  # longest a new child may take to load its model
READY = 0  # request id of the child's "model loaded" message
EAGER_RESTART_AFTER_S = 10.0  # a child that lived this long is replaced at once when it dies idle
RELOAD_AFTER_S = 60.0  # a child whose model failed to load tries again on a request this much later


def default_factory(settings: Settings) -> Generator:
    from adapters.factory import build_generator

    return build_generator(settings)


# --- the child ---------------------------------------------------------------------------
def _child_main(conn: Any, factory: GeneratorFactory, settings: Settings, workers: int, reload_after_s: float = RELOAD_AFTER_S) -> None:
    """Load the model, say so (``READY``), then serve requests over ``conn`` until the parent
    closes it, each on its own thread. A model that fails to load turns every request into an
    error reply instead of a crash loop. Ctrl-C and SIGTERM sent to the whole process group
    (a terminal, systemd) are the parent's to handle: it finishes what it can, then closes us."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    send_lock = threading.Lock()

    def reply(message: tuple) -> None:
        with send_lock:
            conn.send(message)

    model: dict[str, Any] = {"generator": None, "error": None, "tried": 0.0}
    load_lock = threading.Lock()

    def load_model() -> None:
        model["tried"] = time.monotonic()
        try:
            from bot.model_loading import apply_torch_threads

            apply_torch_threads(settings.torch_threads)
            generator = factory(settings)
            load = getattr(generator, "warm_up", None) or getattr(generator, "load", None)
            if callable(load):
                load()
            model["generator"], model["error"] = generator, None
        except Exception as error:  # noqa: BLE001
            model["error"] = f"the generator could not load: {type(error).__name__}: {error}"
        reply((READY, "ready", model["error"]))

    def loaded_generator() -> Any:
        """The model; after a failed load, another try once ``reload_after_s`` has passed (the
        files may be back), so the bot recovers without a restart."""
        if model["error"] is not None and time.monotonic() - model["tried"] >= reload_after_s:
            with load_lock:
                if model["error"] is not None and time.monotonic() - model["tried"] >= reload_after_s:
                    load_model()
        if model["error"] is not None:
            raise GeneratorError(model["error"])
        return model["generator"]

    load_model()

    def work(request_id: int, kind: str, payload: dict) -> None:
        try:
            generator = loaded_generator()
            if kind == "warm":
                reply((request_id, "ok", None))
                return
            extra = {"settings": payload["settings"]} if payload.get("settings") is not None else {}
            try:
                generation = generator.generate(payload["question"], payload["passages"], history=payload["history"], **extra)
            except TypeError:  # a backend without the settings parameter
                generation = generator.generate(payload["question"], payload["passages"], history=payload["history"])
            reply((request_id, "ok", generation))
        except GeneratorTimeout as error:
            reply((request_id, "generator_timeout", str(error)))
        except GeneratorError as error:
            reply((request_id, "generator_error", str(error)))
        except Exception as error:  # noqa: BLE001 - reported to the caller, the child lives on
            reply((request_id, "generator_error", f"generation failed: {type(error).__name__}: {error}"))

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ragbot-gen-child")
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message is None:
            break
        pool.submit(work, *message)
    os._exit(0)  # the parent is gone or closing: nobody will read what is still being generated


# --- the parent --------------------------------------------------------------------------
@dataclass
class _Pending:
    request_id: int
    kind: str
    payload: dict
    future: Future = field(default_factory=Future)
    attempts: int = 0
    incarnation: int = -1
    sent_at: float = 0.0


class ProcessGenerator:
    """A :class:`~adapters.base.Generator` whose model lives in a restartable child process."""

    def __init__(
        self,
        settings: Settings,
        factory: GeneratorFactory = default_factory,
        *,
        metrics: Any = None,
        readiness: Any = None,
        max_attempts: int = 2,
        child_workers: int = 16,
        hang_grace_s: float = _GRACE_S,
        reload_after_s: float = RELOAD_AFTER_S,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.metrics = metrics
        self.readiness = readiness  # each child's model load (or failure to load) is reported there
        self.max_attempts = max_attempts
        self.child_workers = child_workers
        self.hang_grace_s = hang_grace_s
        self.reload_after_s = reload_after_s
        self.restarts = 0
        self._ctx = mp.get_context("spawn")  # never fork a process that holds torch threads
        self._lock = threading.RLock()
        self._send_lock = threading.Lock()
        self._ids = itertools.count(READY + 1)
        self._pending: dict[int, _Pending] = {}
        self._process: Any = None
        self._conn: Any = None
        self._incarnation = 0
        self._closed = False
        self._last_heard = self._started_at = time.monotonic()  # last reply from (or start of) the current child
        self._ready_at: float | None = None

    # --- lifecycle ----------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _start_child(self) -> None:
        parent_conn, child_conn = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_child_main, args=(child_conn, self.factory, self.settings, self.child_workers, self.reload_after_s), name="ragbot-generator", daemon=True
        )
        process.start()
        child_conn.close()
        self._incarnation += 1
        self._started_at = self._last_heard = time.monotonic()
        self._ready_at = None  # set when the child reports its model loaded
        self._process, self._conn = process, parent_conn
        threading.Thread(target=self._receive, args=(parent_conn, process, self._incarnation), name="ragbot-gen-recv", daemon=True).start()
        log.info("generator child %s started (incarnation %s)", process.pid, self._incarnation)

    def _ensure_child(self) -> None:
        if self._closed:
            raise GeneratorError("the generator is shutting down")
        if self._process is None or not self._process.is_alive():
            self._start_child()

    def warm_up(self) -> None:
        """Start the child and load the model there now (readiness waits for this)."""
        self._call("warm", {}, timeout=max(self.settings.generation_timeout_s, 600))

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._closed = True
            process, conn = self._process, self._conn
            self._process = None
            waiting, self._pending = list(self._pending.values()), {}
        for pending in waiting:  # nobody waits for a child that is going away
            if not pending.future.done():
                pending.future.set_exception(GeneratorError("the generator is shutting down"))
        if process is None:
            return
        try:
            with self._send_lock:
                conn.send(None)
        except (OSError, ValueError):
            pass
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join(timeout)

    def kill_child(self) -> None:
        """Kill the child as a crash would (tests; also used on a hung child)."""
        with self._lock:
            process = self._process
        if process is not None and process.is_alive():
            process.kill()

    # --- the protocol -------------------------------------------------------------------
    def generate(
        self, question: str, passages: list[Passage], *, history: list[str] | None = None, settings: Settings | None = None
    ) -> Generation:
        cfg = settings or self.settings
        payload = {"question": question, "passages": list(passages), "history": list(history or []), "settings": settings}
        return self._call("generate", payload, timeout=cfg.generation_timeout_s + self.hang_grace_s)

    def _call(self, kind: str, payload: dict, timeout: float) -> Any:
        """Send and wait. The clock starts when the request reached a child with its model loaded
        (a restart's model load does not count against the request, up to ``LOAD_LIMIT_S``)."""
        pending = _Pending(next(self._ids), kind, payload)
        with self._lock:
            self._pending[pending.request_id] = pending
            self._send(pending)
        while True:
            try:
                return pending.future.result(timeout=0.25)
            except FutureTimeout:
                pass
            now = time.monotonic()
            with self._lock:
                if pending.incarnation != self._incarnation:
                    continue  # being resent to a new child
                loading = self._ready_at is None
                if loading and now - self._started_at < LOAD_LIMIT_S:
                    continue
                if not loading and now - max(pending.sent_at, self._ready_at or 0.0) < timeout:
                    continue
                self._pending.pop(pending.request_id, None)
                # hung = silent for a whole timeout; a child that answered others lately is only busy
                hung = loading or now - self._last_heard >= timeout
            if pending.future.done():
                return pending.future.result()
            if hung:  # the child ignored its own deadline: replace it, the others are resent
                log.error("generator child did not answer within %.0fs; restarting it", timeout)
                self.kill_child()
            raise GeneratorTimeout(f"the generator did not answer within {timeout:.0f}s")

    def _send(self, pending: _Pending) -> None:
        """Send (or resend) under ``self._lock``; a dead pipe is handled by the receiver's restart."""
        self._ensure_child()
        pending.attempts += 1
        pending.incarnation = self._incarnation
        pending.sent_at = time.monotonic()
        try:
            with self._send_lock:
                self._conn.send((pending.request_id, pending.kind, pending.payload))
        except (OSError, ValueError, BrokenPipeError) as error:
            log.warning("could not send to the generator child (%s); it will be restarted", error)

    def _receive(self, conn: Any, process: Any, incarnation: int) -> None:
        while True:
            try:
                request_id, status, value = conn.recv()
            except (EOFError, OSError, ValueError):
                break
            with self._lock:
                self._last_heard = time.monotonic()
                if request_id == READY:
                    if incarnation == self._incarnation:
                        self._ready_at = self._last_heard
                        self._report_load(value)
                    if value:
                        log.error("generator child %s: %s", process.pid, value)
                    continue
                pending = self._pending.pop(request_id, None)
            if pending is None or pending.future.done():
                continue
            if status == "ok":
                pending.future.set_result(value)
            else:
                pending.future.set_exception((GeneratorTimeout if status == "generator_timeout" else GeneratorError)(value))
        process.join(1)
        self._child_died(incarnation, process.exitcode)

    def _report_load(self, error: str | None) -> None:
        """A restarted child that cannot load its model (files moved, memory short) makes the
        instance not ready, so /ready and ragbot_ready say so; a later good load clears it."""
        if self.readiness is None:
            return
        if error:
            self.readiness.mark_failed("generator", error[:300])
        else:
            self.readiness.mark_loaded("generator", round(time.monotonic() - self._started_at, 3))

    def _child_died(self, incarnation: int, exitcode: int | None) -> None:
        with self._lock:
            if self._closed or incarnation != self._incarnation:
                return
            orphans = [p for p in self._pending.values() if p.incarnation == incarnation]
            self._process = None
            self.restarts += 1
            if self.metrics is not None:
                self.metrics.generator_restarts.inc()
            if self.readiness is not None:  # no model until a new child has loaded it
                self.readiness.mark_failed("generator", f"generator child exited (code {exitcode}); reloading")
            if not orphans:
                # reload now, so the next asker does not wait for it; a child that died young
                # (a crash loop) is left for the next question to start
                lived = time.monotonic() - self._started_at
                log.warning("generator child exited (code %s) with nothing in flight%s", exitcode, "; restarting it" if lived >= EAGER_RESTART_AFTER_S else "")
                if lived >= EAGER_RESTART_AFTER_S:
                    self._start_child()
                return
            log.error("generator child crashed (exit code %s) with %d request(s) in flight; restarting", exitcode, len(orphans))
            for pending in orphans:
                if pending.attempts >= self.max_attempts:
                    self._pending.pop(pending.request_id, None)
                    pending.future.set_exception(GeneratorError("the generator crashed while answering this question, twice"))
                else:
                    try:
                        self._send(pending)
                    except GeneratorError as error:
                        self._pending.pop(pending.request_id, None)
                        pending.future.set_exception(error)


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    """Poll ``condition`` until true or ``timeout`` (small helper for callers and tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()
