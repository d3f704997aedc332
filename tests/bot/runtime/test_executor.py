"""Back-pressure when the queue is full; graceful shutdown loses no question."""

from __future__ import annotations

import threading
import time

from bot.observability.metrics import BotMetrics
from bot.runtime.executor import BoundedExecutor
from bot.runtime.pending import PendingQuestions


def test_a_full_queue_refuses_at_once_and_everything_accepted_is_handled():
    gate, handled = threading.Event(), []
    metrics = BotMetrics(process_metrics=False)

    def handler(job):
        gate.wait(5)
        handled.append(job)

    executor = BoundedExecutor(handler, workers=1, queue_size=2, metrics=metrics)
    assert executor.submit("a")
    time.sleep(0.05)  # "a" is running, the queue is empty
    assert executor.submit("b") and executor.submit("c")
    started = time.monotonic()
    assert executor.submit("d") is False and time.monotonic() - started < 0.05
    assert metrics.rejected._value.get() == 1 and metrics.queue_depth._value.get() == 2 and metrics.in_flight._value.get() == 1
    gate.set()
    assert executor.drain(5)
    assert handled == ["a", "b", "c"]
    assert executor.submit("e") and executor.drain(5) and handled[-1] == "e"


def test_a_failing_handler_does_not_kill_its_worker():
    handled = []

    def handler(job):
        if job == "bad":
            raise RuntimeError("boom")
        handled.append(job)

    executor = BoundedExecutor(handler, workers=1, queue_size=5)
    for job in ("bad", "ok1", "ok2"):
        assert executor.submit(job)
    assert executor.drain(5) and handled == ["ok1", "ok2"]


def test_graceful_shutdown_finishes_what_it_can_and_persists_the_rest(make_settings):
    settings = make_settings()
    settings.data_dir.mkdir(parents=True)
    store = PendingQuestions(settings.effective_database_url, instance="bot-1")
    done: dict[str, int] = {}
    lock = threading.Lock()

    def handler(job):
        if job["id"] in done:  # the real path checks the question table by request id
            return
        time.sleep(0.2)
        with lock:
            done[job["id"]] = done.get(job["id"], 0) + 1

    jobs = [{"id": f"q{n}", "question": f"question {n}"} for n in range(8)]
    executor = BoundedExecutor(handler, workers=2, queue_size=10)
    for job in jobs:
        assert executor.submit(job)
    report = executor.shutdown(grace_s=0.3)
    assert not executor.submit({"id": "late"})  # intake is closed
    assert executor.shutdown(grace_s=5).unfinished == []  # a second stop returns at once
    assert 2 <= report.finished < 8 and report.unfinished
    assert {j["id"] for j in report.unfinished} | set(done) == {j["id"] for j in jobs}
    assert store.save(report.unfinished) == len(report.unfinished)
    time.sleep(0.3)  # the two still running at the deadline finish (the process would exit here)

    # the next start takes them back and answers them; nobody gets two answers
    restarted = BoundedExecutor(handler, workers=2, queue_size=10)
    for job in PendingQuestions(settings.effective_database_url, instance="bot-1").take_all():
        assert restarted.submit(job)
    assert restarted.drain(10)
    assert done == {j["id"]: 1 for j in jobs}
    assert store.count() == 0 and PendingQuestions(store.engine, instance="bot-2").take_all() == []


def test_a_replacement_with_another_hostname_takes_the_kept_questions_once(make_settings):
    """Containers and pods restart under a new hostname: rows kept under the old one were never taken."""
    settings = make_settings()
    settings.data_dir.mkdir(parents=True)
    PendingQuestions(settings.effective_database_url, instance="ragbot-7f9c-abcde").save([{"id": "q1"}, {"id": "q2"}])
    first = PendingQuestions(settings.effective_database_url, instance="ragbot-7f9c-xyz12")
    second = PendingQuestions(settings.effective_database_url, instance="ragbot-7f9c-other")
    taken: list[list] = [[], []]
    threads = [threading.Thread(target=lambda i=i, s=s: taken[i].extend(s.take_all())) for i, s in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(job["id"] for job in taken[0] + taken[1]) == ["q1", "q2"] and first.count() == 0
