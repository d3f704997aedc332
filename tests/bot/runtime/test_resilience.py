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
