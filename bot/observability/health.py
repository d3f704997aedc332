"""Liveness, readiness and warm-up, plus a small HTTP server for /metrics, /health and /ready.

``/health`` answers as soon as the process serves requests; ``/ready`` only once every
component (embedder and store, generator, guardrail models) has loaded at warm-up, so a
load balancer or Kubernetes sends no traffic to an instance still loading its models.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bot.observability.metrics import METRICS_CONTENT_TYPE, BotMetrics

log = logging.getLogger(__name__)

JSON = "application/json"


@dataclass
class Readiness:
    """Which components have loaded, how long each took, and why not ready (if not)."""

    expected: set[str] = field(default_factory=set)
    loaded: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    # checked at every /ready: a reason when the instance cannot serve now (a full disk), else None
    live_checks: dict[str, Callable[[], str | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def mark_loaded(self, component: str, seconds: float) -> None:
        with self._lock:
            self.loaded[component] = seconds
            self.failed.pop(component, None)

    def mark_failed(self, component: str, reason: str) -> None:
        with self._lock:
            self.failed[component] = reason

    @property
    def ready(self) -> bool:
        with self._lock:
            return self._ready()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            waiting = sorted(self.expected - set(self.loaded) - set(self.failed))
            failed, ready = dict(self.failed), self._ready()
        for name, check in self.live_checks.items():
            try:
                reason = check()
            except Exception as error:  # noqa: BLE001 - a check that cannot run says so
                reason = f"{type(error).__name__}: {error}"
            if reason:
                failed[name], ready = reason, False
        return {"ready": ready, "loaded": dict(self.loaded), "failed": failed, "waiting": waiting}

    def _ready(self) -> bool:
        return bool(self.expected) and self.expected <= set(self.loaded) and not self.failed


def _components(pipeline: Any) -> list[tuple[str, Any, str]]:
    """(component name, object, how to warm it) for each heavy part of the pipeline's stages."""
    found: list[tuple[str, Any, str]] = []
    for stage in getattr(pipeline, "stages", []):
        if hasattr(stage, "retriever"):
            found.append(("store", stage.retriever, "search"))
        if hasattr(stage, "generator"):
            found.append(("generator", stage.generator, "generate"))
        if hasattr(stage, "validators"):
            found.append((f"{stage.name}_checks", stage.validators, "validate"))
        if callable(getattr(stage, "warm_up", None)):  # a stage with its own model (the likelihood reranker)
            found.append((stage.name, stage, "stage"))
    return found


def _warm(obj: Any, how: str, settings: Any) -> None:
    """Load ``obj`` by its own ``warm_up()`` if it has one, else by one small real call."""
    if how == "stage":
        obj.warm_up(settings)
        return
    if how != "validate" and callable(getattr(obj, "warm_up", None)):
        obj.warm_up()
        return
    if how == "search":
        obj.search("warm up", k=1, alpha=settings.alpha)
    elif how == "generate":
        from adapters.base import Passage

        obj.generate("What is this?", [Passage(n=1, title="warm-up", text="This is a warm-up passage.")])
    elif how == "validate":
        from guardrails.base import CheckContext

        context = CheckContext(settings=settings, question="warm up", source_texts=["warm up"], n_sources=1)
        for validator in obj:
            warm = getattr(validator, "warm_up", None)
            warm() if callable(warm) else validator.validate("Warm-up text for the checks.", context)


def warm_up(pipeline: Any, readiness: Readiness, metrics: BotMetrics | None = None) -> bool:
    """Load every component now (not on the first question); record load times; return ready."""
    parts = _components(pipeline)
    readiness.expected |= {name for name, _, _ in parts}
    if metrics is not None:
        metrics.ready.set_function(lambda: 1.0 if readiness.snapshot()["ready"] else 0.0)  # as /ready says, live checks included
    for name, obj, how in parts:
        started = time.perf_counter()
        try:
            _warm(obj, how, pipeline.settings)
        except Exception as error:  # noqa: BLE001 - reported on /ready, never crashes the server
            log.error("warm-up of %s failed: %s: %s", name, type(error).__name__, error)
            readiness.mark_failed(name, f"{type(error).__name__}: {error}"[:300])
            continue
        seconds = time.perf_counter() - started
        readiness.mark_loaded(name, round(seconds, 3))
        if metrics is not None:
            metrics.model_load_seconds.labels(name).set(seconds)
        log.info("warm-up: %s loaded in %.2f s", name, seconds)
    return readiness.ready


# --- framework-neutral responses: (status, content type, body) ------------------------
def health_response() -> tuple[int, str, bytes]:
    return 200, JSON, b'{"status": "ok"}'


# below this much free space the database cannot take questions, answers or the outbox
MIN_FREE_BYTES = 64 * 1024 * 1024


def disk_space_check(folder: Path, minimum: int = MIN_FREE_BYTES) -> Callable[[], str | None]:
    """A live check: not ready while ``folder``'s disk has under ``minimum`` bytes free (every
    question would fail to be stored; a load balancer should send them to another instance)."""

    def check() -> str | None:
        free = shutil.disk_usage(folder).free
        return f"only {free // (1024 * 1024)} MiB free on the disk of {folder}" if free < minimum else None

    return check


def database_check(engine: Any) -> Callable[[], str | None]:
    """A live check: not ready while the bot's database cannot be reached (every question would
    end in "something went wrong" once answered, since nothing could be stored)."""
    from sqlalchemy import text

    def check() -> str | None:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:  # noqa: BLE001 - any failure means questions cannot be stored
            return f"the bot's database cannot be reached ({type(error).__name__})"
        return None

    return check


def ready_response(readiness: Readiness) -> tuple[int, str, bytes]:
    snapshot = readiness.snapshot()
    return (200 if snapshot["ready"] else 503), JSON, json.dumps(snapshot).encode()


def metrics_response(metrics: BotMetrics) -> tuple[int, str, bytes]:
    return 200, METRICS_CONTENT_TYPE, metrics.render()


def route(path: str, readiness: Readiness, metrics: BotMetrics) -> tuple[int, str, bytes] | None:
    """The response for one of our paths, or None when the path is not ours."""
    path = path.split("?", 1)[0].rstrip("/") or "/"
    if path == "/health":
        return health_response()
    if path == "/ready":
        return ready_response(readiness)
    if path == "/metrics":
        return metrics_response(metrics)
    return None


class ObservabilityServer:
    """A tiny threaded HTTP server for /metrics, /health and /ready (Socket Mode has no HTTP server)."""

    def __init__(self, readiness: Readiness, metrics: BotMetrics, host: str = "127.0.0.1", port: int = 9464) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                response = route(self.path, outer.readiness, outer.metrics) or (404, JSON, b'{"error": "not found"}')
                status, content_type, body = response
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # scrapes every few seconds would flood the log
                return

        self.readiness = readiness
        self.metrics = metrics
        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def start(self) -> "ObservabilityServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="ragbot-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
