"""Prometheus metrics for ragbot, on a registry of their own (tests get a fresh one each)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST, PlatformCollector, ProcessCollector

from bot.answer import Answer

_STAGE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_GUARD_STAGES = {"input_guard": "input", "passage_guard": "passages", "output_guard": "output"}

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


class BotMetrics:
    """Every metric ragbot exports. ``observe_answer`` is the pipeline observer entry point."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process_metrics: bool = True) -> None:
        self.registry = registry or CollectorRegistry()
        if process_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        r = self.registry
        self.stage_seconds = Histogram("ragbot_stage_duration_seconds", "Time spent in each pipeline stage.", ["stage"], buckets=_STAGE_BUCKETS, registry=r)
        self.question_seconds = Histogram("ragbot_question_duration_seconds", "Pipeline time per question.", buckets=_STAGE_BUCKETS, registry=r)
        self.end_to_end_seconds = Histogram("ragbot_end_to_end_seconds", "From a question queued to its reply stored and first sent (queue wait included).", buckets=_STAGE_BUCKETS, registry=r)
        self.questions = Counter("ragbot_questions", "Questions answered, by outcome.", ["outcome"], registry=r)
        self.escalations = Counter("ragbot_escalations_requested", "Questions the pipeline asked a human for.", registry=r)
        self.held = Counter("ragbot_answers_held", "Answers drafted but held for a human (counted as answered in ragbot_questions).", registry=r)
        self.verdicts = Counter("ragbot_guardrail_verdicts", "Guardrail check results.", ["side", "validator", "result"], registry=r)
        self.stage_errors = Counter("ragbot_stage_errors", "Stages that raised (each ends in a polite reply).", ["stage"], registry=r)
        self.failed = Counter("ragbot_questions_failed", "Questions that ended in 'something went wrong' from an error outside the pipeline's stages (the database down, a full disk).", ["kind"], registry=r)
        self.tokens = Counter("ragbot_generator_tokens", "Tokens through the generator.", ["kind"], registry=r)
        self.cache_requests = Counter("ragbot_cache_requests", "Answer-cache lookups.", ["result"], registry=r)
        self.cache_hit_ratio = Gauge("ragbot_cache_hit_ratio", "Answer-cache hits / lookups since start.", registry=r)
        self.cache_hit_ratio.set_function(self._hit_ratio)
        self.model_load_seconds = Gauge("ragbot_model_load_seconds", "Time to load each component at warm-up.", ["component"], registry=r)
        self.ready = Gauge("ragbot_ready", "1 once models and store are loaded.", registry=r)
        self.escalations_open = Gauge("ragbot_escalations_open", "Escalations not yet resolved (read from the database).", registry=r)
        self.queue_depth = Gauge("ragbot_queue_depth", "Questions waiting for a worker.", registry=r)
        self.in_flight = Gauge("ragbot_in_flight", "Questions being answered now.", registry=r)
        self.rejected = Counter("ragbot_rejected_busy", "Questions turned away because the queue was full.", registry=r)
        self.generator_restarts = Counter("ragbot_generator_restarts", "Generator worker processes restarted after a crash or timeout.", registry=r)
        self.store_down = Gauge("ragbot_store_down", "1 while searches fail at once after a knowledge-base outage (store_cooldown_s).", registry=r)
        self.external_errors = Counter("ragbot_external_call_errors", "Failed calls to the store, generator or Slack.", ["target", "kind"], registry=r)
        self._lock = threading.Lock()
        self._hits = 0
        self._lookups = 0

    # --- observers -------------------------------------------------------------------
    def observe_answer(self, answer: Answer, total_s: float | None = None) -> None:
        self.questions.labels(answer.outcome.value).inc()
        if answer.escalate:
            self.escalations.inc()
        for trace in answer.trace:
            self.stage_seconds.labels(trace.stage).observe(trace.duration_ms / 1000)
            if "error" in trace.details:
                self.stage_errors.labels(trace.stage).inc()
            if trace.stage == "generate" and "failure" in trace.details:  # a local model's or a model server's
                self.external_errors.labels("generator", str(trace.details["failure"])).inc()
            side = _GUARD_STAGES.get(trace.stage)
            for name, verdict in (trace.details.get("verdicts") or {}).items() if side else ():
                result = "passed" if verdict.get("passed") else str(verdict.get("action") or "failed")
                self.verdicts.labels(side, name, result).inc()
            if trace.stage == "generate":
                for kind in ("prompt", "completion"):
                    count = trace.details.get(f"tokens_{kind}")
                    if isinstance(count, (int, float)) and count > 0:
                        self.tokens.labels(kind).inc(count)
        seconds = total_s if total_s is not None else sum(t.duration_ms for t in answer.trace) / 1000
        self.question_seconds.observe(seconds)

    def on_answer(self, answer: Answer, turn: object, total_ms: float) -> None:
        """Pipeline observer entry point."""
        self.observe_answer(answer, total_ms / 1000)

    def observe_cache(self, hit: bool) -> None:
        self.cache_requests.labels("hit" if hit else "miss").inc()
        with self._lock:
            self._lookups += 1
            self._hits += int(hit)

    def _hit_ratio(self) -> float:
        with self._lock:
            return self._hits / self._lookups if self._lookups else 0.0

    def track_open_escalations(self, count: Callable[[], int]) -> None:
        """Read the open-escalation count from the database at each scrape (errors read as -1)."""

        def safe() -> float:
            try:
                return float(count())
            except Exception:  # noqa: BLE001 - a scrape must not fail because the DB hiccuped
                return -1.0

        self.escalations_open.set_function(safe)

    # --- exposition ------------------------------------------------------------------
    def render(self) -> bytes:
        return generate_latest(self.registry)


_default: BotMetrics | None = None
_default_lock = threading.Lock()


def default_metrics() -> BotMetrics:
    """The process-wide metrics (one registry per process, shared by every component)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = BotMetrics()
        return _default
