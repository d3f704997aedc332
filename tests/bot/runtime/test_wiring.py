"""The serving pipeline: cache around retrieval and generation, hardened store, observers attached."""

from __future__ import annotations

import json
import logging

import pytest

from adapters.base import Generation
from bot.answer import Outcome
from bot.cache import CacheLookupStage, CacheStoreStage
from bot.observability.metrics import BotMetrics
from bot.observability.question_log import QUESTION_LOGGER, QuestionLogger
from bot.pipeline import Pipeline
from bot.runtime.resilience import ResilientRetriever
from bot.runtime.wiring import install_serving_parts
from bot.stages import GenerateStage, InputGuardStage, OutputGuardStage, RelevanceGateStage, RetrieveStage
from bot.turn import RequestContext
from retrieval.types import Chunk, Hit


class Store:
    def __init__(self) -> None:
        self.calls = 0

    def kb_version(self):
        return "v1"

    def search(self, query, *, k, alpha):
        self.calls += 1
        return [Hit(chunk=Chunk("c", "d", "VPN", "vpn.md", "t", "p", "VPN profiles last 90 days."), score=1.0, cosine=0.9)]


class Cos:
    def relevance(self, query, hits):
        return 0.9


class Gen:
    def __init__(self) -> None:
        self.calls = 0

    def generate(self, question, passages, *, history=None):
        self.calls += 1
        return Generation(text="90 days [1].", model="m")


@pytest.mark.slow  # the question log redacts with the real Presidio engine
def test_serving_parts_wrap_the_plain_stages(make_settings, caplog):
    settings = make_settings(generator_process=False)
    store, gen = Store(), Gen()
    stages = [InputGuardStage([]), RetrieveStage(store), RelevanceGateStage(Cos()), GenerateStage(gen), OutputGuardStage([])]
    pipeline = Pipeline(stages, settings)
    metrics = BotMetrics(process_metrics=False)
    parts = install_serving_parts(pipeline, settings, metrics=metrics)
    assert [s.name for s in pipeline.stages] == ["input_guard", "cache", "retrieve", "relevance_gate", "generate", "cache_store", "output_guard"]
    assert isinstance(pipeline.stages[1], CacheLookupStage) and isinstance(pipeline.stages[5], CacheStoreStage)
    assert isinstance(pipeline.stages[2].retriever, ResilientRetriever)
    assert any(isinstance(o, QuestionLogger) for o in pipeline.observers) and metrics in pipeline.observers
    with caplog.at_level(logging.INFO, logger=QUESTION_LOGGER):
        first = pipeline.run("How long is a VPN profile valid? Mail me at jane.doe@example.com")
        second = pipeline.run("how long is a VPN profile valid?  mail me at jane.doe@example.com")
    assert first.outcome is second.outcome is Outcome.ANSWERED and gen.calls == store.calls == 1
    lines = [r.getMessage() for r in caplog.records if r.name == QUESTION_LOGGER]
    assert len(lines) == 2 and all("jane.doe" not in line for line in lines)
    assert "[EMAIL_ADDRESS]" in json.loads(lines[0])["question"] and json.loads(lines[1])["cache"] == "hit"
    assert metrics.questions.labels("answered")._value.get() == 2 and metrics._hit_ratio() == 0.5
    parts.close()


def test_serving_counts_rate_limits_in_the_bots_database(make_settings):
    """Per-process buckets let two instances allow twice the rate."""
    from sqlalchemy import create_engine

    from guardrails.ratelimit import RateLimiter, RateLimitValidator
    from guardrails.ratelimit.shared import SharedRateLimiter

    settings = make_settings(generator_process=False, rate_user_per_minute=2)
    engine = create_engine(f"sqlite:///{settings.data_dir / 'state.db'}")
    pipelines = []
    for _ in range(2):  # two instances on one database
        limit = RateLimitValidator()
        pipeline = Pipeline([InputGuardStage([limit]), RetrieveStage(Store()), RelevanceGateStage(Cos()), GenerateStage(Gen()), OutputGuardStage([])], settings)
        install_serving_parts(pipeline, settings, metrics=BotMetrics(process_metrics=False), db_engine=engine)
        assert isinstance(limit.limiter, SharedRateLimiter) and isinstance(limit.limiter.fallback, RateLimiter)
        pipelines.append(pipeline)
    outcomes = [pipelines[i % 2].run("How long is a VPN profile valid?", RequestContext(user_id="U1", channel_id="C1")).outcome for i in range(3)]
    assert outcomes[:2] == [Outcome.ANSWERED, Outcome.ANSWERED] and outcomes[2] is not Outcome.ANSWERED

