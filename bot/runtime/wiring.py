"""Turns the plain pipeline into the one a long-running bot needs.

``ragbot ask`` and the benchmarks keep the plain pipeline (no cache to skew timings, no
child process to spawn). ``ragbot serve`` adds, without changing any stage: deadlines and
retries on the store, the generator in a restartable child process (``generator_process``),
the answer cache around retrieval and generation, and the observers that write the JSON
question log and the Prometheus metrics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from bot.cache import AnswerCache, CacheLookupStage, CacheStoreStage, KnowledgeBaseVersion
from bot.observability.hashing import IdHasher
from bot.observability.health import Readiness, database_check, disk_space_check
from bot.observability.metrics import BotMetrics, default_metrics
from bot.observability.question_log import QuestionLogger, default_redactor
from bot.pipeline import Pipeline
from bot.runtime.generator_process import ProcessGenerator
from bot.runtime.resilience import ResilientRetriever
from bot.settings import Settings
from bot.stages import GenerateStage

log = logging.getLogger(__name__)

END = "__end__"  # resume_at target meaning "skip every remaining stage"


@dataclass
class ServingParts:
    """What ``serve`` exposes (metrics, readiness) and must close on shutdown."""

    metrics: BotMetrics
    readiness: Readiness = field(default_factory=Readiness)
    cache: AnswerCache | None = None
    generator: ProcessGenerator | None = None
    logger: QuestionLogger | None = None

    def close(self) -> None:
        if self.generator is not None:
            self.generator.close()


def _index(pipeline: Pipeline, name: str) -> int | None:
    return next((i for i, stage in enumerate(pipeline.stages) if stage.name == name), None)


def install_serving_parts(pipeline: Pipeline, settings: Settings, *, metrics: BotMetrics | None = None, db_engine: Any = None, hasher: IdHasher | None = None) -> ServingParts:
    """Harden ``pipeline`` in place for serving; returns the parts ``serve`` needs. ``hasher``: the
    Slack bot's, so log lines hash ids as the stored records do."""
    metrics = metrics or default_metrics()
    parts = ServingParts(metrics=metrics)
    if settings.effective_database_url.startswith("sqlite"):  # the database (and LanceDB) live on this disk
        parts.readiness.live_checks["disk"] = disk_space_check(settings.data_dir)
        # this instance's own file; a shared PostgreSQL down would take every instance out of
        # rotation, and Slack's events would then reach nobody (askers are told instead)
        if db_engine is not None:
            parts.readiness.live_checks["database"] = database_check(db_engine)
    raw_retriever = None
    for stage in pipeline.stages:
        if stage.name == "retrieve" and hasattr(stage, "retriever"):
            raw_retriever = stage.retriever
            stage.retriever = ResilientRetriever(
                raw_retriever, timeout_s=settings.store_timeout_s, retries=settings.store_retries, metrics=metrics, cooldown_s=settings.store_cooldown_s
            )

    generate_at = _index(pipeline, "generate")
    if settings.generator_process and generate_at is not None:
        parts.generator = ProcessGenerator(settings, metrics=metrics, readiness=parts.readiness)
        pipeline.stages[generate_at] = GenerateStage(parts.generator)

    if raw_retriever is not None and generate_at is not None:
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            parts.cache = AnswerCache(db_engine if db_engine is not None else settings.effective_database_url)
        except Exception as error:  # noqa: BLE001 - no cache is better than no bot
            log.warning("answer cache disabled: %s: %s", type(error).__name__, error)
    if parts.cache is not None:
        lookup = CacheLookupStage(parts.cache, KnowledgeBaseVersion(raw_retriever), metrics, adapter_in_force=_adapter_in_force(settings))
        guard_at = _index(pipeline, "output_guard")
        lookup.resume_at = "output_guard" if guard_at is not None else END
        pipeline.stages.insert(guard_at if guard_at is not None else len(pipeline.stages), CacheStoreStage(parts.cache, lookup.inflight))
        pipeline.observers.append(lookup)  # releases single-flight claims however a question ends
        input_at = _index(pipeline, "input_guard")
        pipeline.stages.insert(input_at + 1 if input_at is not None else 0, lookup)

    if db_engine is not None:
        _share_rate_limits(pipeline, db_engine, hasher)
    parts.logger = QuestionLogger(hasher or IdHasher.from_settings(settings), default_redactor())
    pipeline.observers.extend([parts.logger, metrics])
    return parts


def _adapter_in_force(settings: Any) -> Any:
    """The adapter a question is answered with: the setting, else the registry's pointer (read
    per question, as the generator reads it)."""
    from adapters.registry import AdapterRegistry

    registry = AdapterRegistry(settings.adapters_dir)
    return lambda effective: effective.adapter if effective.adapter is not None else registry.active()


def _share_rate_limits(pipeline: Pipeline, db_engine: Any, hasher: Any = None) -> None:
    """Count questions in the bot's database, so every instance on it enforces one limit; the
    process's own buckets stay as the fallback when the database cannot answer."""
    from guardrails.ratelimit import RateLimitValidator
    from guardrails.ratelimit.shared import SharedRateLimiter

    guard_at = _index(pipeline, "input_guard")
    for validator in getattr(pipeline.stages[guard_at], "validators", []) if guard_at is not None else []:
        if isinstance(validator, RateLimitValidator):
            try:
                validator.limiter = SharedRateLimiter(db_engine, fallback=validator.limiter, hasher=hasher)
            except Exception as error:  # noqa: BLE001 - per-process limits are better than no bot
                log.warning("rate limits counted per process: %s: %s", type(error).__name__, error)
