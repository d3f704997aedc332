"""Timeouts, retries with backoff, and plain-words messages for calls that leave the process.

Only calls that are safe to repeat are retried: a knowledge-base search has no side
effects; a generation is retried by :mod:`bot.runtime.generator_process` only when its
worker died; Slack calls are retried on 429 (Slack did not act on them) here and on any
other failure by the Slack bot's outbox, which stores each message before sending it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from retrieval.errors import EmptyKnowledgeBase, StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

STORE_DOWN_TEXT = (
    "I can't reach the knowledge base right now, so I can't look this up. "
    "Please try again in a few minutes; if it keeps happening, a human can help with the button below."
)


class ServiceUnavailable(RuntimeError):
    """An external dependency failed after retries; ``user_message`` is what the asker sees."""

    def __init__(self, message: str, user_message: str) -> None:
        super().__init__(message)
        self.user_message = user_message


def backoff_delays(attempts: int, base_s: float = 0.2, cap_s: float = 5.0, jitter: float = 0.25) -> list[float]:
    """Exponential delays (base, 2*base, ...) capped, each with +-``jitter`` so retries do not align."""
    return [min(cap_s, base_s * 2**n) * (1 + random.uniform(-jitter, jitter)) for n in range(attempts)]


def retry(
    call: Callable[[], T],
    *,
    retries: int,
    retry_on: tuple[type[BaseException], ...],
    give_up_on: tuple[type[BaseException], ...] = (),
    base_s: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
    what: str = "call",
) -> T:
    """``call()``; on a ``retry_on`` error try again after a backoff, at most ``retries`` more times."""
    delays = backoff_delays(retries, base_s)
    for attempt in range(retries + 1):
        try:
            return call()
        except give_up_on:
            raise
        except retry_on as error:
            if attempt == retries:
                raise
            log.warning("%s failed (%s: %s); retry %d of %d in %.2fs", what, type(error).__name__, error, attempt + 1, retries, delays[attempt])
            sleep(delays[attempt])
    raise AssertionError("unreachable")


class StoreDown(RuntimeError):
    """The knowledge base failed recently and its cool-down has not passed: not even tried."""


class Breaker:
    """A circuit breaker: once a search has failed all its retries, searches fail at once for
    ``cooldown_s`` (the asker reads the store-down message in a moment instead of after ~30 s
    of retries, and the workers stay free for questions the cache or a recovered store can
    answer); then one search probes the store with a single try, and its result closes the
    breaker or opens it for another cool-down. ``cooldown_s`` 0 turns it off."""

    def __init__(self, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._open_until: float | None = None
        self._probing = False
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """A search failed and none has succeeded since."""
        return self._open_until is not None

    def cooling_down(self) -> bool:
        """Searches fail at once now (the ``ragbot_store_down`` gauge)."""
        until = self._open_until
        return until is not None and self.clock() < until

    def admit(self) -> bool:
        """True when this call is the probe of an open breaker; raises StoreDown when it must not
        try at all (cooling down, or another call is probing)."""
        with self._lock:
            if self._open_until is None:
                return False
            if self.clock() < self._open_until:
                raise StoreDown(f"the knowledge base failed; trying it again in {self._open_until - self.clock():.0f}s")
            if self._probing:
                raise StoreDown("the knowledge base failed; another question is trying it now")
            self._probing = True
            return True

    def release(self) -> None:
        """The admitted call ended in a way that tells nothing about the store."""
        with self._lock:
            self._probing = False

    def record(self, ok: bool) -> None:
        if self.cooldown_s <= 0:
            return
        with self._lock:
            was_open, self._probing = self._open_until is not None, False
            self._open_until = None if ok else self.clock() + self.cooldown_s
        if was_open and ok:
            log.info("knowledge base answers again; searches go through")
        elif not was_open and not ok:
            log.warning("knowledge base down: searches fail at once for %.0f s, then one probes it", self.cooldown_s)


class ResilientRetriever:
    """A retriever with a deadline per search, retries on connection-type errors, and a breaker.

    The search runs on a small thread pool so a hung store cannot hold the question past
    ``timeout_s``; an empty knowledge base is not an outage and is never retried. After a
    search failed all its retries, :class:`Breaker` fails searches at once for ``cooldown_s``.
    """

    RETRY_ON = (StoreUnavailable, ConnectionError, TimeoutError, OSError)

    def __init__(self, retriever: Any, *, timeout_s: float, retries: int, metrics: Any = None, threads: int = 8, cooldown_s: float = 0.0) -> None:
        self.inner = retriever
        self.timeout_s = timeout_s
        self.retries = retries
        self.metrics = metrics
        self.breaker = Breaker(cooldown_s)
        gauge = getattr(metrics, "store_down", None)
        if gauge is not None:  # read from the breaker at scrape time: never stale, never out of order
            gauge.set_function(lambda: 1.0 if self.breaker.cooling_down() else 0.0)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ragbot-store")

    def __getattr__(self, name: str) -> Any:  # store, count, kb_version... pass through
        return getattr(self.inner, name)

    def warm_up(self) -> None:
        """Load the retriever's models, then search once under the usual deadline and breaker."""
        self._load_models()
        self.search("warm up", k=1, alpha=0.5)

    def _load_models(self) -> None:
        """Load the retriever's models outside the deadline (its getters cache them: after the
        first search this costs nothing): a slow load is not a store outage, and counting it
        as one opened the breaker at start on a busy machine."""
        load = getattr(self.inner, "warm_up", None)
        if callable(load):
            load()

    def _search_once(self, query: str, k: int, alpha: float) -> list:
        self._load_models()
        future = self._pool.submit(self.inner.search, query, k=k, alpha=alpha)
        try:
            return future.result(timeout=self.timeout_s)
        except FutureTimeout:
            future.cancel()
            raise TimeoutError(f"the knowledge base did not answer within {self.timeout_s:g}s") from None

    def search(self, query: str, *, k: int, alpha: float) -> list:
        try:
            probe = self.breaker.admit()
        except StoreDown as error:
            raise ServiceUnavailable(f"knowledge base unavailable: {error}", STORE_DOWN_TEXT) from error
        try:
            hits = retry(
                lambda: self._search_once(query, k, alpha),
                retries=0 if probe else self.retries,
                retry_on=self.RETRY_ON,
                give_up_on=(EmptyKnowledgeBase,),
                what="knowledge-base search",
            )
        except EmptyKnowledgeBase:
            self.breaker.record(ok=True)  # the store answered: it is empty, not down
            raise
        except self.RETRY_ON as error:
            self.breaker.record(ok=False)
            if self.metrics is not None:
                self.metrics.external_errors.labels("store", type(error).__name__).inc()
            raise ServiceUnavailable(f"knowledge base unavailable: {type(error).__name__}: {error}", STORE_DOWN_TEXT) from error
        except BaseException:
            self.breaker.release()  # not an outage (a bug, a bad query): says nothing about the store
            raise
        self.breaker.record(ok=True)
        return hits


RATE_LIMIT_WAIT_S = 20  # longer Retry-After waits go back to the outbox instead of blocking


def retry_after_s(response_headers: Any) -> float | None:
    """Slack's ``Retry-After`` in seconds (headers as slack_sdk gives them), None when absent or bad."""
    for name, value in (response_headers or {}).items():
        if name.lower() == "retry-after":
            value = value[0] if isinstance(value, list) else value
            try:
                return max(float(value), 0.0)
            except (TypeError, ValueError):
                return None
    return None


def slack_error_code(error: BaseException) -> str:
    """Slack's error code of a failed Web API call ("not_in_channel", "invalid_auth"), or ""."""
    response = getattr(error, "response", None)
    try:
        return str(response.get("error") or "") if response is not None and hasattr(response, "get") else ""
    except Exception:  # noqa: BLE001 - a response that is not JSON has no code
        return ""


# Slack's errors that may come after the work was done ("some aspect of the operation succeeded"),
# sent with HTTP 200: a post may have landed, and a read may work if tried again
MAYBE_DONE = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})


def slack_maybe_done(error: BaseException) -> bool:
    """Whether Slack may have done the work although the call failed: no answer came (timeout,
    dropped connection, an error of our own before the call), a server error did, or Slack said
    so (``MAYBE_DONE``, sent with HTTP 200). Any other refusal (a 4xx, or 200 with ok false) did
    nothing."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    return not isinstance(status, int) or status >= 500 or slack_error_code(error) in MAYBE_DONE


def slack_refused(error: BaseException) -> bool:
    """Whether a failed Slack call was refused for good (no scope, not in the channel: HTTP
    200 with ok false, or a 4xx other than 429), so trying again later would not help; a
    timeout, a dropped connection, a 5xx or a rate limit may pass."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    return not slack_maybe_done(error) and status != 429 and slack_error_code(error) != "ratelimited"


def slack_retry_handlers(max_retries: int = 2, max_wait_s: float = RATE_LIMIT_WAIT_S) -> list:
    """slack_sdk handlers for the WebClient: wait out a short 429 (``Retry-After``) and try again.

    A long one is not waited out in the calling thread: the outbox worker would hold its row
    past the lease (another instance would send it again); the 429 surfaces and the outbox
    schedules the row after ``Retry-After``. 5xx and connection errors are not retried here:
    Slack may already have posted the message. The outbox retries those with backoff instead.
    """
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    class ShortRateLimitRetryHandler(RateLimitErrorRetryHandler):
        def _can_retry(self, *, state, request, response=None, error=None) -> bool:  # noqa: ANN001
            if response is None or response.status_code != 429:
                return False
            wait = retry_after_s(response.headers)
            return wait is None or wait <= max_wait_s

    return [ShortRateLimitRetryHandler(max_retry_count=max_retries)]


SLACK_TIMEOUT_S = 15


def slack_client(settings: Any, token: str | None) -> Any:
    """The bot's WebClient: a deadline on every call and a wait-and-retry on 429."""
    from slack_sdk import WebClient

    return WebClient(token=token, base_url=settings.slack_api_url, timeout=SLACK_TIMEOUT_S, retry_handlers=slack_retry_handlers())
