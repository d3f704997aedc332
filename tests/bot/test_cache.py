"""Answer cache: hits skip retrieval and generation but never the output checks; changes invalidate."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from adapters.base import Generation
from bot.answer import Outcome
from bot.cache import AnswerCache, CacheLookupStage, CacheStoreStage, KnowledgeBaseVersion, cache_key
from bot.observability.metrics import BotMetrics
from bot.pipeline import Pipeline
from bot.stages import GenerateStage, InputGuardStage, OutputGuardStage, RelevanceGateStage, RetrieveStage
from bot.turn import Exchange, RequestContext
from guardrails.base import CheckContext, Verdict
from retrieval.types import Chunk, Hit


class Store:
    def __init__(self) -> None:
        self.version, self.searches = "v1", 0

    def kb_version(self) -> str:
        return self.version

    def search(self, query, *, k, alpha):
        self.searches += 1
        chunk = Chunk("c1", "d1", "VPN", "vpn.md", "t", "p1", "VPN profiles last 90 days. Call 555-0100.")
        return [Hit(chunk=chunk, score=1.0, cosine=0.8)]


class Cos:
    def relevance(self, query, hits):
        return hits[0].cosine


class Gen:
    def __init__(self) -> None:
        self.calls = 0

    def generate(self, question, passages, *, history=None):
        self.calls += 1
        return Generation(text="Profiles last 90 days [1]. Call 555-0100.", model="m", prompt_tokens=9, completion_tokens=3)


class PhoneCheck:
    """Output check whose on-fail action comes from settings (output_pii_action)."""

    name, action_setting = "pii", "output_pii_action"

    def __init__(self) -> None:
        self.calls = 0

    def validate(self, text: str, context: CheckContext) -> Verdict:
        self.calls += 1
        if "555-0100" not in text:
            return Verdict(self.name, True)
        return Verdict(self.name, False, message="phone number", fixed=text.replace("555-0100", "<PHONE>"))


def _rig(settings, gen):
    store, check, metrics = Store(), PhoneCheck(), BotMetrics(process_metrics=False)
    now = [1000.0]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    cache = AnswerCache(settings.effective_database_url, clock=lambda: now[0])
    lookup = CacheLookupStage(cache, KnowledgeBaseVersion(store, ttl_s=0), metrics)
    stages = [
        InputGuardStage([]), lookup, RetrieveStage(store),
        RelevanceGateStage(Cos()), GenerateStage(gen), CacheStoreStage(cache, lookup.inflight), OutputGuardStage([check]),
    ]
    return Pipeline(stages, settings, observers=[lookup]), store, gen, check, metrics, now, cache


@pytest.fixture
def rig(make_settings):
    return _rig(make_settings(min_relevance=0.5, cache_ttl_s=60), Gen())


def _cache_decision(answer):
    return answer.stage("cache").decision


def test_repeated_question_is_a_hit_that_still_passes_the_output_checks(rig):
    pipeline, store, gen, check, metrics, _, _ = rig
    first = pipeline.run("How long is a VPN profile valid?")
    second = pipeline.run("  how LONG is a vpn profile valid ")
    assert (_cache_decision(first), _cache_decision(second)) == ("miss", "hit")
    assert store.searches == 1 and gen.calls == 1 and check.calls == 2
    assert second.text == first.text == "Profiles last 90 days [1]. Call <PHONE>."
    assert second.sources == first.sources and second.confidence == first.confidence == 0.8
    assert [t.stage for t in second.trace] == ["input_guard", "cache", "output_guard"]
    assert metrics._hit_ratio() == 0.5
    # the checks run under the settings of the moment: a hit is blocked when the PII action says so
    blocked = pipeline.run("How long is a VPN profile valid?", overrides={"output_pii_action": "block"})
    assert _cache_decision(blocked) == "hit" and blocked.outcome is Outcome.BLOCKED and gen.calls == 1


def test_reingest_and_answer_settings_invalidate_but_check_settings_do_not(rig):
    pipeline, store, gen, _, _, _, _ = rig
    q = "How long is a VPN profile valid?"
    pipeline.run(q)
    assert _cache_decision(pipeline.run(q, overrides={"groundedness_threshold": 0.9})) == "hit"  # runs on every hit anyway
    assert _cache_decision(pipeline.run(q, overrides={"alpha": 0.9})) == "miss"
    assert _cache_decision(pipeline.run(q, overrides={"adapter": "hr-v2"})) == "miss"
    assert _cache_decision(pipeline.run(q)) == "hit"
    store.version = "v2"  # re-ingest
    assert _cache_decision(pipeline.run(q)) == "miss" and gen.calls == 4
    assert _cache_decision(pipeline.run(q)) == "hit"


def test_entries_expire_after_the_ttl_and_follow_ups_and_ttl_zero_bypass(rig):
    pipeline, _, gen, _, _, now, cache = rig
    q = "How long is a VPN profile valid?"
    pipeline.run(q)
    now[0] += 59
    assert _cache_decision(pipeline.run(q)) == "hit"
    now[0] += 2
    assert _cache_decision(pipeline.run(q)) == "miss"
    assert _cache_decision(pipeline.run(q, RequestContext(history=[Exchange("what about laptops?")]))) == "skip"
    assert _cache_decision(pipeline.run(q, overrides={"cache_ttl_s": 0})) == "off"
    now[0] += 1000
    assert cache.purge() == 1 and len(cache) == 0


def test_fallbacks_are_not_cached_and_a_broken_database_is_a_miss(rig):
    pipeline, store, gen, _, _, _, cache = rig
    assert pipeline.run("off topic", overrides={"min_relevance": 0.95}).outcome is Outcome.FALLBACK
    assert len(cache) == 0
    cache.engine.dispose()
    with cache.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE answer_cache")
    answer = pipeline.run("How long is a VPN profile valid?")
    assert answer.outcome is Outcome.ANSWERED and _cache_decision(answer) == "miss"


def test_key_ignores_case_and_spacing_only(make_settings):
    settings = make_settings()
    assert cache_key("Where is the VPN?", settings, "v") == cache_key(" where  is the vpn", settings, "v")
    assert cache_key("Where is the VPN?", settings, "v") != cache_key("Where is the laptop?", settings, "v")
    assert cache_key("Where is the VPN?", settings, "v") != cache_key("Where is the VPN?", settings, "w")


def test_lancedb_version_changes_on_every_write(tmp_path):
    from retrieval.store.lance import LanceStore

    store = LanceStore(tmp_path / "store", "default")

    class Retriever:
        pass

    retriever = Retriever()
    retriever.store = store
    version = KnowledgeBaseVersion(retriever, ttl_s=0)
    assert version() == "empty"
    chunk = Chunk("c1", "d1", "T", "t.md", "text", "p1", "parent")
    store.upsert([chunk], np.ones((1, 4), dtype=np.float32))
    first = version()
    store.upsert([chunk], np.ones((1, 4), dtype=np.float32))  # re-ingest of the same document
    assert first not in ("empty", None) and version() != first


class SlowGen(Gen):
    def generate(self, question, passages, *, history=None):
        time.sleep(0.4)
        return super().generate(question, passages, history=history)


def test_a_burst_of_one_question_generates_once(make_settings):
    pipeline, _, gen, check, _, _, _ = _rig(make_settings(min_relevance=0.5, cache_ttl_s=60), SlowGen())
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda n: pipeline.run("How long is a VPN profile valid?"), range(4)))
    assert gen.calls == 1 and check.calls == 4
    assert sorted(_cache_decision(a) for a in answers) == ["hit", "hit", "hit", "miss"]
    assert all(a.text == answers[0].text for a in answers)


def test_waiters_answer_for_themselves_when_the_first_asker_gets_no_draft(make_settings):
    pipeline, _, gen, _, _, _, cache = _rig(make_settings(min_relevance=0.5, cache_ttl_s=60), SlowGen())
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:  # the gate refuses both (fallbacks are not cached): the second waits, then runs
        answers = list(pool.map(lambda n: pipeline.run("q", overrides={"min_relevance": 0.95}), range(2)))
    assert time.monotonic() - started < 10  # woken by the first one's end, not by the 60 s timeout
    assert all(a.outcome is Outcome.FALLBACK for a in answers) and len(cache) == 0
    assert pipeline.run("How long is a VPN profile valid?").outcome is Outcome.ANSWERED  # nothing left claimed


def test_a_store_that_cannot_say_its_version_turns_the_cache_off_not_the_answer(caplog):
    """A deleted store made kb_version raise inside the cache stage: the question failed as
    'cache failed' instead of meeting the store outage on the retrieve stage's own path."""

    class GoneStore:
        def kb_version(self):
            raise OSError("No such file or directory: store/chunks_default.lance")

    assert KnowledgeBaseVersion(GoneStore(), ttl_s=0)() is None
    assert "cannot read the knowledge base version (OSError)" in caplog.text


def test_instances_storing_the_same_question_at_once_neither_fail_nor_log(database_url, caplog):
    import threading

    from bot.cache import CachedDraft

    caches = [AnswerCache(database_url) for _ in range(4)]
    for trial in range(5):
        barrier = threading.Barrier(4)

        def put(cache, n):
            barrier.wait()
            cache.put(f"key{trial}", CachedDraft(draft=f"draft {n}", passages=[], sources=[], relevance=0.8), "kb1", 60)

        threads = [threading.Thread(target=put, args=(cache, n)) for n, cache in enumerate(caches)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert caches[0].get(f"key{trial}").draft.startswith("draft ")
    assert not [r for r in caplog.records if "cache write failed" in r.getMessage()]
    for cache in caches:
        cache.engine.dispose()


def test_switching_the_active_adapter_is_a_miss_though_no_setting_changed(make_settings):
    """`ragbot adapters use/rollback` moves the registry's pointer; a running bot kept serving
    the previous adapter's drafts from the cache for an hour."""
    from adapters.registry import AdapterRegistry
    from bot.runtime.wiring import _adapter_in_force

    settings = make_settings(min_relevance=0.5, cache_ttl_s=60)
    pipeline, _, gen, _, _, _, _ = _rig(settings, Gen())
    lookup = next(stage for stage in pipeline.stages if isinstance(stage, CacheLookupStage))
    lookup.adapter_in_force = _adapter_in_force(settings)
    registry = AdapterRegistry(settings.adapters_dir)
    q = "How long is a VPN profile valid?"
    registry.use("none")
    assert _cache_decision(pipeline.run(q)) == "miss"
    assert _cache_decision(pipeline.run(q)) == "hit"
    registry.use("squad-k1-r16")  # the adapter that ships
    assert _cache_decision(pipeline.run(q)) == "miss"
    registry.rollback()
    assert _cache_decision(pipeline.run(q)) == "hit" and gen.calls == 2
