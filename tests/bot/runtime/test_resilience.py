"""Store outages: deadlines, retries with backoff, and a visible message once retries run out."""

from __future__ import annotations

import time

import pytest

from adapters.base import Generation
from bot.answer import Outcome
from bot.pipeline import Pipeline
from bot.runtime.resilience import STORE_DOWN_TEXT, ResilientRetriever, ServiceUnavailable, backoff_delays, retry
from bot.stages import GenerateStage, InputGuardStage, OutputGuardStage, RelevanceGateStage, RetrieveStage
from retrieval.errors import EmptyKnowledgeBase, StoreUnavailable
from retrieval.types import Chunk, Hit


class FlakyStore:
    """Fails the first ``failures`` searches with ``error``, or hangs when ``hang`` is set."""

    def __init__(self, failures: int = 0, error: Exception | None = None, hang: float = 0.0) -> None:
        self.failures, self.error, self.hang, self.calls = failures, error, hang, 0

    def search(self, query, *, k, alpha):
        self.calls += 1
        if self.hang:
            time.sleep(self.hang)
        if self.calls <= self.failures:
            raise self.error
        return [Hit(chunk=Chunk("c", "d", "VPN", "vpn.md", "t", "p", "VPN profiles last 90 days."), score=1.0, cosine=0.9)]


class Cos:
    def relevance(self, query, hits):
        return 0.9


class Gen:
    def generate(self, question, passages, *, history=None):
        return Generation(text="90 days [1].", model="m")


def _run(settings, retriever):
    stages = [InputGuardStage([]), RetrieveStage(retriever), RelevanceGateStage(Cos()), GenerateStage(Gen()), OutputGuardStage([])]
    return Pipeline(stages, settings).run("How long is a VPN profile valid?")


def test_a_blip_is_retried_and_answered(make_settings):
    store = FlakyStore(failures=2, error=StoreUnavailable("connection refused"))
    answer = _run(make_settings(), ResilientRetriever(store, timeout_s=2, retries=2))
    assert answer.outcome is Outcome.ANSWERED and store.calls == 3


def test_a_store_down_gives_a_clear_message_and_asks_a_human(make_settings):
    store = FlakyStore(failures=99, error=ConnectionError("connection refused"))
    answer = _run(make_settings(), ResilientRetriever(store, timeout_s=2, retries=2))
    assert answer.outcome is Outcome.FALLBACK and answer.text == STORE_DOWN_TEXT and answer.escalate
    assert store.calls == 3 and answer.stage("retrieve").decision == "error"


def test_a_hung_store_is_cut_off_at_its_deadline(make_settings):
    started = time.monotonic()
    answer = _run(make_settings(), ResilientRetriever(FlakyStore(hang=5), timeout_s=0.2, retries=1))
    assert answer.text == STORE_DOWN_TEXT and time.monotonic() - started < 2


def test_an_empty_knowledge_base_is_not_retried():
    store = FlakyStore(failures=99, error=EmptyKnowledgeBase())
    with pytest.raises(EmptyKnowledgeBase):
        ResilientRetriever(store, timeout_s=1, retries=3).search("q", k=1, alpha=0.5)
    assert store.calls == 1


def test_backoff_grows_and_retry_gives_up_after_the_limit():
    delays = backoff_delays(4, base_s=0.1, jitter=0)
    assert delays == [0.1, 0.2, 0.4, 0.8]
    slept = []
    calls = []

    def failing():
        calls.append(1)
        raise OSError("down")

    with pytest.raises(OSError):
        retry(failing, retries=3, retry_on=(OSError,), sleep=slept.append)
    assert len(calls) == 4 and len(slept) == 3 and slept[0] < slept[-1]
    assert issubclass(ServiceUnavailable, RuntimeError)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_after_a_failed_search_the_next_ones_fail_at_once_until_the_cool_down(make_settings):
    store = FlakyStore(failures=99, error=ConnectionError("connection refused"))
    retriever = ResilientRetriever(store, timeout_s=2, retries=2, cooldown_s=30)
    clock = retriever.breaker.clock = Clock()
    assert _run(make_settings(), retriever).text == STORE_DOWN_TEXT and store.calls == 3
    for _ in range(5):  # no retries, no waiting: the asker is told at once
        answer = _run(make_settings(), retriever)
        assert answer.text == STORE_DOWN_TEXT and answer.escalate
    assert store.calls == 3
    clock.now += 31  # cool-down over: one search probes the store, with a single try
    assert _run(make_settings(), retriever).text == STORE_DOWN_TEXT and store.calls == 4
    assert _run(make_settings(), retriever).text == STORE_DOWN_TEXT and store.calls == 4  # open again
    store.failures = 0  # the store is back
    clock.now += 31
    assert _run(make_settings(), retriever).outcome is Outcome.ANSWERED and store.calls == 5
    assert _run(make_settings(), retriever).outcome is Outcome.ANSWERED and store.calls == 6 and not retriever.breaker.is_open


def test_only_one_search_probes_while_the_others_fail_at_once():
    import threading

    store = FlakyStore(hang=0.5)
    retriever = ResilientRetriever(store, timeout_s=5, retries=0, cooldown_s=10)
    clock = retriever.breaker.clock = Clock()
    retriever.breaker.record(ok=False)
    clock.now += 11
    results: list = []

    def ask() -> None:
        try:
            results.append(len(retriever.search("q", k=1, alpha=0.5)))
        except ServiceUnavailable:
            results.append("down")

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str) == [1, "down", "down", "down"] and store.calls == 1
    assert not retriever.breaker.is_open


def test_an_empty_knowledge_base_or_a_bug_does_not_open_the_breaker():
    retriever = ResilientRetriever(FlakyStore(failures=99, error=EmptyKnowledgeBase()), timeout_s=1, retries=3, cooldown_s=30)
    with pytest.raises(EmptyKnowledgeBase):
        retriever.search("q", k=1, alpha=0.5)
    retriever.inner = FlakyStore(failures=99, error=KeyError("bug"))
    with pytest.raises(KeyError):
        retriever.search("q", k=1, alpha=0.5)
    assert not retriever.breaker.is_open


def test_with_no_cool_down_every_search_tries_the_store(make_settings):
    store = FlakyStore(failures=99, error=StoreUnavailable("down"))
    retriever = ResilientRetriever(store, timeout_s=1, retries=1, cooldown_s=0)
    _run(make_settings(), retriever)
    _run(make_settings(), retriever)
    assert store.calls == 4 and not retriever.breaker.is_open


def test_the_breaker_is_exported_as_a_metric():
    from bot.observability.metrics import BotMetrics

    metrics = BotMetrics(process_metrics=False)
    retriever = ResilientRetriever(FlakyStore(failures=1, error=StoreUnavailable("down")), timeout_s=1, retries=0, metrics=metrics, cooldown_s=30)
    clock = retriever.breaker.clock = Clock()
    with pytest.raises(ServiceUnavailable):
        retriever.search("q", k=1, alpha=0.5)
    assert b"ragbot_store_down 1.0" in metrics.render()
    clock.now += 31  # cool-down over: not stale while nobody asks (a blip at night alerts no one all night)
    assert b"ragbot_store_down 0.0" in metrics.render()
    retriever.search("q", k=1, alpha=0.5)
    assert b"ragbot_store_down 0.0" in metrics.render() and not retriever.breaker.is_open


def test_a_slow_model_load_on_the_first_search_is_not_taken_for_a_store_outage():
    """The embedder loads on the first search; on a busy machine that took longer than the
    store's deadline, every retry timed out and the breaker opened at start."""
    from retrieval.retriever import HybridRetriever

    class Store:
        def hybrid_search(self, query, vector, *, k, alpha):
            return FlakyStore().search(query, k=k, alpha=alpha)

    class Embedder:
        def encode(self, texts):
            return [[1.0, 0.0]]

    loaded = []

    def slow_embedder():
        if not loaded:
            time.sleep(0.6)
            loaded.append(Embedder())
        return loaded[0]

    retriever = ResilientRetriever(HybridRetriever(Store(), slow_embedder), timeout_s=0.2, retries=1, cooldown_s=30)
    assert len(retriever.search("vpn", k=1, alpha=0.5)) == 1
    assert not retriever.breaker.cooling_down()
    retriever.warm_up()  # what the serving runtime's warm-up calls: models loaded, then one timed search
