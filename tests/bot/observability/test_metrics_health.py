"""Metrics count what happens and are served on /metrics; /ready waits for warm-up."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from adapters.base import Generation
from bot.answer import Answer, Outcome, StageTrace
from bot.observability.health import ObservabilityServer, Readiness, warm_up
from bot.observability.metrics import BotMetrics
from bot.pipeline import Pipeline
from bot.stages import GenerateStage, InputGuardStage, OutputGuardStage, RelevanceGateStage, RetrieveStage
from retrieval.types import Chunk, Hit


def _samples(metrics: BotMetrics) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _answer(outcome: Outcome, verdict_passed: bool = True) -> Answer:
    trace = [
        StageTrace(stage="input_guard", duration_ms=2.0, details={"verdicts": {"pii": {"passed": verdict_passed, "action": "fix" if not verdict_passed else "none"}}}),
        StageTrace(stage="retrieve", duration_ms=30.0),
        StageTrace(stage="generate", duration_ms=900.0, details={"tokens_prompt": 100, "tokens_completion": 20}),
    ]
    return Answer(text="x", outcome=outcome, confidence=0.5, trace=trace, escalate=outcome is Outcome.FALLBACK)


def test_answers_cache_lookups_and_gauges_are_counted():
    metrics = BotMetrics(process_metrics=False)
    metrics.observe_answer(_answer(Outcome.ANSWERED), total_s=0.95)
    metrics.observe_answer(_answer(Outcome.FALLBACK, verdict_passed=False))
    for hit in (True, False, False, True):
        metrics.observe_cache(hit)
    metrics.track_open_escalations(lambda: 3)
    s = _samples(metrics)
    assert s[("ragbot_questions_total", (("outcome", "answered"),))] == 1
    assert s[("ragbot_questions_total", (("outcome", "fallback"),))] == 1
    assert s[("ragbot_escalations_requested_total", ())] == 1
    assert s[("ragbot_guardrail_verdicts_total", (("result", "fix"), ("side", "input"), ("validator", "pii")))] == 1
    assert s[("ragbot_guardrail_verdicts_total", (("result", "passed"), ("side", "input"), ("validator", "pii")))] == 1
    assert s[("ragbot_stage_duration_seconds_count", (("stage", "generate"),))] == 2
    assert s[("ragbot_stage_duration_seconds_bucket", (("le", "1.0"), ("stage", "generate")))] == 2
    assert s[("ragbot_stage_duration_seconds_bucket", (("le", "0.5"), ("stage", "generate")))] == 0
    assert s[("ragbot_generator_tokens_total", (("kind", "prompt"),))] == 200
    assert s[("ragbot_cache_hit_ratio", ())] == 0.5
    assert s[("ragbot_escalations_open", ())] == 3
    metrics.track_open_escalations(lambda: 1 / 0)  # a broken DB reads as -1, the scrape still works
    assert _samples(metrics)[("ragbot_escalations_open", ())] == -1


class SlowStore:
    def __init__(self, fail: bool = False) -> None:
        self.fail, self.searches = fail, 0

    def search(self, query, *, k, alpha):
        self.searches += 1
        if self.fail:
            raise ConnectionError("no store")
        return [Hit(chunk=Chunk("c", "d", "T", "t.md", "t", "p", "pt"), score=1.0, cosine=0.9)]


class Gen:
    def __init__(self) -> None:
        self.loaded = False

    def warm_up(self) -> None:
        self.loaded = True

    def generate(self, question, passages, *, history=None):
        return Generation(text="ok [1]", model="m")


class Cos:
    def relevance(self, query, hits):
        return 0.9


def _pipeline(settings, store):
    gen = Gen()
    stages = [InputGuardStage([]), RetrieveStage(store), RelevanceGateStage(Cos()), GenerateStage(gen), OutputGuardStage([])]
    return Pipeline(stages, settings), gen


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_server_reports_health_at_once_and_ready_only_after_warm_up(make_settings):
    metrics, readiness = BotMetrics(), Readiness()
    store = SlowStore()
    pipeline, gen = _pipeline(make_settings(), store)
    pipeline.observers.append(metrics)
    server = ObservabilityServer(readiness, metrics, port=0).start()
    try:
        assert _get(server.port, "/health") == (200, b'{"status": "ok"}')
        status, body = _get(server.port, "/ready")
        assert status == 503 and json.loads(body)["ready"] is False
        assert warm_up(pipeline, readiness, metrics) is True
        assert gen.loaded and store.searches == 1  # warm_up() used when offered, else one real call
        status, body = _get(server.port, "/ready")
        assert status == 200 and set(json.loads(body)["loaded"]) == {"store", "generator", "input_guard_checks", "output_guard_checks"}
        pipeline.run("How long is a VPN profile valid?")
        status, body = _get(server.port, "/metrics")
        text = body.decode()
        assert status == 200
        assert 'ragbot_questions_total{outcome="answered"} 1.0' in text
        assert 'ragbot_model_load_seconds{component="generator"}' in text and "ragbot_ready 1.0" in text
        assert "process_resident_memory_bytes" in text
        assert _get(server.port, "/nope")[0] == 404
    finally:
        server.stop()


def test_a_store_that_fails_to_load_keeps_the_instance_unready(make_settings):
    readiness = Readiness()
    pipeline, _ = _pipeline(make_settings(), SlowStore(fail=True))
    assert warm_up(pipeline, readiness) is False
    snapshot = readiness.snapshot()
    assert snapshot["failed"]["store"].startswith("ConnectionError") and "generator" in snapshot["loaded"]


def test_ready_waits_for_the_likelihood_reranker_when_it_is_on(make_settings):
    from bot.stages.rerank import LikelihoodRerankStage

    loads = []
    for depth in (0, 3):
        settings = make_settings(likelihood_rerank_depth=depth)
        pipeline, _ = _pipeline(settings, SlowStore())
        pipeline.stages.insert(1, LikelihoodRerankStage(lambda: loads.append(depth)))
        readiness = Readiness()
        assert warm_up(pipeline, readiness) is True
        assert "rerank" in readiness.snapshot()["loaded"]
    assert loads == [3]  # loaded at warm-up only when reranking is on at start-up


def test_ready_turns_503_while_the_disk_is_full_and_back(tmp_path, monkeypatch):
    """Every question would fail to be stored: the load balancer must send them elsewhere."""
    import shutil
    from collections import namedtuple

    from bot.observability import health

    readiness = Readiness(expected={"store"})
    readiness.mark_loaded("store", 0.1)
    readiness.live_checks["disk"] = health.disk_space_check(tmp_path)
    assert health.ready_response(readiness)[0] == 200
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 5 * 2**20, 5 * 2**20))
    status, _, body = health.ready_response(readiness)
    assert status == 503 and json.loads(body)["failed"] == {"disk": f"only 5 MiB free on the disk of {tmp_path}"}
    monkeypatch.undo()
    assert health.ready_response(readiness)[0] == 200


def test_serving_parts_check_the_disk_of_an_sqlite_database(make_settings):
    from bot.runtime.wiring import install_serving_parts

    settings = make_settings()
    pipeline, _ = _pipeline(settings, SlowStore())
    parts = install_serving_parts(pipeline, settings, metrics=BotMetrics(process_metrics=False))
    assert "disk" in parts.readiness.live_checks and parts.readiness.live_checks["disk"]() is None


def test_ready_and_the_ready_gauge_turn_unready_while_the_database_is_down(make_settings, tmp_path):
    """Every question would end in "something went wrong": the load balancer must send them elsewhere."""
    import shutil

    import sqlalchemy
    from sqlalchemy.pool import NullPool

    from bot.observability.health import ready_response
    from bot.runtime.wiring import install_serving_parts

    settings = make_settings(generator_process=False)
    pipeline, _ = _pipeline(settings, SlowStore())
    folder = tmp_path / "db"
    folder.mkdir()
    engine = sqlalchemy.create_engine(f"sqlite:///{folder / 'state.db'}", poolclass=NullPool)
    metrics = BotMetrics(process_metrics=False)
    parts = install_serving_parts(pipeline, settings, metrics=metrics, db_engine=engine)
    assert warm_up(pipeline, parts.readiness, metrics) is True
    assert ready_response(parts.readiness)[0] == 200 and b"ragbot_ready 1.0" in metrics.render()
    shutil.rmtree(folder)  # the database cannot be opened any more
    status, _, body = ready_response(parts.readiness)
    assert status == 503 and "database" in json.loads(body)["failed"]
    assert b"ragbot_ready 0.0" in metrics.render()  # the gauge says what /ready says
    folder.mkdir()
    assert ready_response(parts.readiness)[0] == 200
