"""Faults on the Slack path, end to end over HTTP on 127.0.0.1: every question gets exactly one
visible reply whether the store is down, the generator times out, Slack answers 429 or 500,
the queue is full, or the bot is stopped with questions in flight."""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from slack_sdk import WebClient

from adapters.base import GeneratorError, GeneratorTimeout
from bot.observability.metrics import BotMetrics
from bot.pipeline import Pipeline
from bot.runtime.in_flight import InFlightQuestions
from bot.runtime.lifecycle import ServingRuntime
from bot.runtime.resilience import STORE_DOWN_TEXT, slack_client
from bot.runtime.wiring import install_serving_parts
from bot.slack import HttpServer, SlackBot, build_wsgi_app
from bot.slack.worker import BUSY_TEXT
from bot.stages import GenerateStage, InputGuardStage, OutputGuardStage, RelevanceGateStage, RetrieveStage
from bot.state import open_state
from bot.state.models import utcnow

pytestmark = pytest.mark.slow  # the question log redacts with the real Presidio engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "slack"))
from slack_fakes import SECRET, CosineRelevance, FakeSlackApi, KeywordRetriever, SlackClientSim, TopicGenerator  # noqa: E402


class SlowGenerator(TopicGenerator):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def generate(self, question, passages, *, history=None):
        time.sleep(self.seconds)
        return super().generate(question, passages, history=history)


class TimingOutGenerator:
    def generate(self, question, passages, *, history=None):
        raise GeneratorTimeout("the generator did not answer within 60s")


class DownStore:
    def __init__(self) -> None:
        self.calls = 0

    def search(self, query, *, k, alpha):
        self.calls += 1
        raise ConnectionError("connection refused")


class Harness:
    def __init__(self, settings, api: FakeSlackApi, retriever=None, generator=None, client: WebClient | None = None, warm: bool = False) -> None:
        self.settings, self.api = settings, api
        self.state = open_state(settings.effective_database_url)
        stages = [InputGuardStage([]), RetrieveStage(retriever or KeywordRetriever()), RelevanceGateStage(CosineRelevance()),
                  GenerateStage(generator or TopicGenerator()), OutputGuardStage([])]
        self.pipeline = Pipeline(stages, settings)
        self.metrics = BotMetrics(process_metrics=False)
        self.parts = install_serving_parts(self.pipeline, settings, metrics=self.metrics, db_engine=self.state.db.engine)
        client = client or WebClient(token="xoxb-test", base_url=settings.slack_api_url)
        self.bot = SlackBot(settings, self.pipeline, self.state, signing_secret=SECRET, client=client, metrics=self.metrics).start_background()
        self.runtime = ServingRuntime(self.bot, self.parts, settings).start(json_log=False, warm=warm)
        self.server = HttpServer(build_wsgi_app(self.bot.app, extra_routes=self.runtime.routes), "127.0.0.1", 0).start()
        self.slack = SlackClientSim(self.server.url)
        self.stopped = False

    def replies(self, thread_ts: str, channel: str = "C1") -> list:
        return self.api.find("chat.postMessage", channel=channel, thread_ts=thread_ts)

    def texts(self, thread_ts: str) -> list[str]:
        return [c.args.get("text", "") for c in self.replies(thread_ts)]

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.server.url + path, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def stop(self):
        if self.stopped:
            return None
        self.stopped = True
        self.server.stop()
        report = self.runtime.shutdown()
        self.bot.close(wait=True)
        self.state.close()
        return report


@pytest.fixture
def rig(make_settings):
    api = FakeSlackApi()
    started: list[Harness] = []

    def start(retriever=None, generator=None, client=None, warm=False, **values) -> Harness:
        base = {"slack_api_url": api.url, "min_relevance": 0.3, "escalation_channel": "CESC", "escalation_threshold": 0.5,
                "outbox_retry_interval_s": 3600, "generator_process": False, "store_retries": 1}
        settings = make_settings(**{**base, **values})
        harness = Harness(settings, api, retriever, generator, client, warm)
        started.append(harness)
        return harness

    yield start, api
    for harness in started:
        harness.stop()
    api.close()


def test_store_down_is_retried_then_explained_in_the_thread(rig):
    start, _ = rig
    store = DownStore()
    h = start(retriever=store)
    response, event = h.slack.mention("How do I connect to the VPN?")
    assert response.status == 200 and response.seconds < 3
    assert h.bot.drain(20)
    assert store.calls == 2  # one retry with backoff
    [text] = h.texts(event["ts"])
    assert "can't reach the knowledge base" in STORE_DOWN_TEXT and text == STORE_DOWN_TEXT
    [record] = h.state.questions.list()
    assert record.outcome == "fallback" and record.escalated and record.delivery_status == "sent"


def test_generator_timeout_is_explained_in_the_thread(rig):
    start, _ = rig
    h = start(generator=TimingOutGenerator())
    _, event = h.slack.mention("How do I connect to the VPN?")
    assert h.bot.drain(20)
    [text] = h.texts(event["ts"])
    assert "couldn't put an answer together in time" in text
    assert h.state.questions.list()[0].escalated
    # an alert on failed calls must see a dead or slow model
    assert h.metrics.registry.get_sample_value("ragbot_external_call_errors_total", {"target": "generator", "kind": "timeout"}) == 1


def test_slack_429_is_waited_out_and_the_reply_posted_once(rig, make_settings):
    start, api = rig
    api.fail("chat.postMessage", times=1, status=429)
    h = start(client=slack_client(make_settings(slack_api_url=api.url), "xoxb-test"))
    _, event = h.slack.mention("How do I connect to the VPN?")
    assert h.bot.drain(20)
    assert len(api.find("chat.postMessage!failed")) == 1
    [reply] = h.replies(event["ts"])
    assert "GlobalProtect" in reply.args["text"] and h.state.questions.list()[0].delivery_status == "sent"


def test_a_long_slack_429_goes_back_to_the_outbox_until_retry_after_without_using_attempts(rig, make_settings):
    """Waiting out Retry-After: 600 in the sending thread held the row past its lease, when
    another instance would send it again; the outbox schedules it instead."""
    start, api = rig
    api.fail("chat.postMessage", times=1, status=429, retry_after=600)
    h = start(client=slack_client(make_settings(slack_api_url=api.url), "xoxb-test"))
    began = time.monotonic()
    _, event = h.slack.mention("How do I connect to the VPN?")
    assert h.bot.drain(20) and time.monotonic() - began < 15
    assert h.replies(event["ts"]) == [] and len(api.find("chat.postMessage!failed")) == 1
    [row] = h.state.outbox.all()
    assert row.status == "pending" and row.attempts == 0 and "rate limited" in row.last_error
    assert h.bot.deliverer.flush(now=utcnow() + timedelta(minutes=5)) == 0  # Slack said 10 minutes
    assert h.bot.deliverer.flush(now=utcnow() + timedelta(minutes=11)) == 1
    [reply] = h.replies(event["ts"])
    assert "GlobalProtect" in reply.args["text"] and h.state.questions.list()[0].delivery_status == "sent"


def test_slack_500_keeps_the_reply_and_the_outbox_sends_it_once(rig):
    start, api = rig
    api.fail("chat.postMessage", times=2, status=500)
    h = start()
    _, event = h.slack.mention("How do I connect to the VPN?")
    assert h.bot.drain(20)
    assert h.replies(event["ts"]) == [] and h.state.questions.list()[0].delivery_status == "pending"
    h.bot.deliverer.flush(now=utcnow() + timedelta(minutes=5))
    h.bot.deliverer.flush(now=utcnow() + timedelta(minutes=30))
    h.bot.deliverer.flush(now=utcnow() + timedelta(hours=2))
    [reply] = h.replies(event["ts"])
    assert "GlobalProtect" in reply.args["text"] and len(api.find("chat.postMessage!failed")) == 2
    assert h.state.questions.list()[0].delivery_status == "sent"
    assert h.metrics.registry.get_sample_value("ragbot_external_call_errors_total", {"target": "slack", "kind": "SlackApiError"}) == 2


def test_a_stored_answer_the_database_cannot_send_now_is_sent_later_without_a_failure_note(rig):
    """The database failed after the answer was stored (during the flush): the outbox owes the
    answer, so "something went wrong" would only precede the answer that follows it."""
    from sqlalchemy.exc import OperationalError

    start, _ = rig
    h = start()
    flush, calls = h.bot.deliverer.flush, []

    def failing_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return flush(*args, **kwargs)

    h.bot.deliverer.flush = failing_once
    _, event = h.slack.mention("How do I connect to the VPN?")
    assert h.bot.drain(20) and calls
    assert h.texts(event["ts"]) == [] and h.state.questions.list()[0].delivery_status == "pending"
    assert [row.kind for row in h.state.outbox.all()] == ["reply"]  # the answer only, no failure note queued behind it
    h.bot.deliverer.flush()  # the retry loop's next rounds
    h.bot.deliverer.flush(now=utcnow() + timedelta(minutes=10))
    [text] = h.texts(event["ts"])
    assert "GlobalProtect" in text


def test_a_full_queue_answers_busy_at_once_and_every_question_gets_one_reply(rig):
    start, _ = rig
    h = start(generator=SlowGenerator(0.4), max_concurrency=1, queue_size=2)
    events = []
    for n in range(6):
        response, event = h.slack.mention(f"vpn question {n}")
        assert response.status == 200 and response.seconds < 3
        events.append(event)
    assert h.bot.drain(30)
    texts = [h.texts(e["ts"]) for e in events]
    assert all(len(t) == 1 for t in texts), texts
    busy = [t[0] for t in texts if t[0] == BUSY_TEXT]
    assert 1 <= len(busy) <= 3 and h.metrics.rejected._value.get() == len(busy)
    deadline = time.monotonic() + 5  # the turned-away ones are recorded beside the listener
    while len(h.state.questions.list()) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    summary = h.state.questions.summary()  # overload shows in /ragbot stats, not only in Prometheus
    assert (summary.questions, summary.busy, summary.answered) == (6, len(busy), 6 - len(busy))


class GatedGenerator(TopicGenerator):
    """Answers questions 0 and 1 at once; question 2 and later wait for ``gate``."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.closed = False  # what a generator child closed at shutdown does to the question it held
        self.returned = threading.Event()

    def generate(self, question, passages, *, history=None):
        if not any(f"question {n}," in question for n in (0, 1)):
            self.gate.wait(30)
            if self.closed:
                self.returned.set()
                raise GeneratorError("the generator is shutting down")
        return super().generate(question, passages, history=history)


def test_graceful_shutdown_keeps_unfinished_questions_and_the_next_start_answers_them(rig):
    start, api = rig
    generator = GatedGenerator()
    h = start(generator=generator, max_concurrency=1, queue_size=10, shutdown_grace_s=3)
    events = [h.slack.mention(f"vpn question {n}, " + ("mail jane.doe@example.com" if n == 4 else "thanks"))[1] for n in range(5)]
    report = h.stop()
    # 0 and 1 finished; 2 was running at the deadline; 3 and 4 never started: all three are kept
    assert sorted(job.text.split(",")[0] for job in report.unfinished) == ["vpn question 2", "vpn question 3", "vpn question 4"]
    assert len(h.state.questions.list()) == 2
    assert h.runtime.pending.count() == 3
    assert InFlightQuestions(h.settings.effective_database_url).count() == 0  # kept, so not adopted again after a lease
    with h.runtime.pending.engine.begin() as conn:
        stored = [row[0] for row in conn.exec_driver_sql("SELECT payload FROM pending_questions")]
    assert all("jane.doe@example.com" not in p and "vpn question" in json.loads(p)["text"] for p in stored)  # kept redacted
    assert [json.loads(p)["redacted"] for p in stored] == [False, False, True]
    generator.closed = True  # the stop closed the generator under question 2 ...
    generator.gate.set()
    assert generator.returned.wait(10) and h.bot.drain(5)
    time.sleep(0.3)
    # ... and that failure is neither stored nor sent nor escalated: the question was handed back
    assert h.replies(events[2]["ts"]) == [] and not api.find("chat.postMessage", channel="CESC")
    assert len(h.state.questions.list()) == 2

    generator.closed = False
    with h.runtime.pending.engine.begin() as conn:  # the restart took a minute: the askers waited that too
        for row_id, payload in list(conn.exec_driver_sql("SELECT id, payload FROM pending_questions")):
            moved = {**json.loads(payload), "received_at": json.loads(payload)["received_at"] - 60}
            conn.exec_driver_sql("UPDATE pending_questions SET payload = ? WHERE id = ?", (json.dumps(moved), row_id))
    h2 = start(data_dir=h.settings.data_dir)
    assert h2.runtime.recovered == 2  # re-queued; the third is asked again (below)
    assert h2.bot.drain(20)
    for event in events:
        assert len(h2.replies(event["ts"])) == 1, event["ts"]
    # the one whose words were redacted is not answered from "[EMAIL_ADDRESS]": the asker is asked again
    assert "please ask it again" in h2.texts(events[4]["ts"])[0]
    assert len(h2.state.questions.list()) == 4 and h2.runtime.pending.count() == 0
    recovered = [r for r in h2.state.questions.list() if r.latency_ms > 60_000]
    assert len(recovered) == 2  # the latency recorded for them includes the downtime


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_http_server_serves_metrics_health_and_readiness(rig):
    start, _ = rig
    h = start(warm=True)
    assert h.get("/health") == (200, '{"status": "ok"}')
    assert h.runtime.wait_ready(20)
    status, body = h.get("/ready")
    assert status == 200 and json.loads(body)["ready"] is True
    _, event = h.slack.mention("How do I connect to the VPN?")
    assert h.bot.drain(20) and h.replies(event["ts"])
    status, text = h.get("/metrics")
    assert status == 200 and 'ragbot_questions_total{outcome="answered"} 1.0' in text
    assert "ragbot_end_to_end_seconds_count 1.0" in text and "ragbot_escalations_open 0.0" in text
    assert 'ragbot_stage_duration_seconds_count{stage="generate"} 1.0' in text


def test_socket_mode_metrics_server_on_a_busy_port_is_not_fatal(rig):
    import socket

    start, _ = rig
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        h = start(metrics_port=taken.getsockname()[1])
        runtime = ServingRuntime(h.bot, h.parts, h.settings).start(metrics_server=True, warm=False, json_log=False)
    assert runtime.server is None  # logged; the bot keeps answering
    _, event = h.slack.mention("How do I connect to the VPN?")
    assert h.bot.drain(20) and len(h.replies(event["ts"])) == 1
    off = start(metrics_port=0)
    assert ServingRuntime(off.bot, off.parts, off.settings).start(metrics_server=True, warm=False, json_log=False).server is None
