"""Questions kept by a shutdown are answered by a later start, even when the first start is too busy."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import types
from unittest import mock

from bot.runtime.lifecycle import ServingRuntime, _job_payload
from bot.runtime.pending import PendingQuestions
from bot.slack.delivery import OutboxDeliverer
from bot.slack.effective import EffectiveSettings
from bot.slack.worker import BUSY_TEXT, QuestionJob, QuestionWorker
from bot.state import open_state


def _runtime(state, worker, pending):
    runtime = ServingRuntime.__new__(ServingRuntime)
    runtime.bot, runtime.pending = types.SimpleNamespace(state=state, worker=worker), pending
    return runtime


def _kept(pending, n):
    jobs = [QuestionJob(text=f"How many vacation days do I get in year {i}?", user_id="U1", channel_id="C1",
                        message_ts=f"1.{i}", thread_ts=f"1.{i}") for i in range(n)]
    pending.save([_job_payload(job, None) for job in jobs], reason="shutdown")
    return jobs


def test_kept_questions_beyond_the_queue_wait_for_room_and_are_all_answered_without_a_busy_reply(make_settings, tmp_path):
    state = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    pending = PendingQuestions(f"sqlite:///{tmp_path / 'pending.db'}")
    slack = mock.MagicMock()
    worker = QuestionWorker(None, EffectiveSettings(make_settings(max_concurrency=1, queue_size=1), state.overrides), state, slack, None)
    gate, handled = threading.Event(), []
    worker.handle = lambda job: gate.wait(10) and handled.append(job.request_id)
    jobs = _kept(pending, 5)
    try:
        queued = _runtime(state, worker, pending).recover()
        assert 1 <= queued <= 2 and pending.count() >= 3  # one running + one waiting at most: the rest still kept, not refused
        gate.set()
        deadline = time.monotonic() + 15
        while len(handled) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert handled == [job.request_id for job in jobs]  # all of them, in the order they were asked
        assert pending.count() == 0
        posted = [call.kwargs.get("text") for call in slack.chat_postMessage.call_args_list]
        assert BUSY_TEXT not in posted and all(state.questions.get(job.request_id) is None for job in jobs)
    finally:
        gate.set()
        worker.shutdown(wait=False)
        state.close()


def test_kept_questions_still_waiting_at_shutdown_stay_kept_for_the_next_start(make_settings, tmp_path):
    state = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    pending = PendingQuestions(f"sqlite:///{tmp_path / 'pending.db'}")
    worker = QuestionWorker(None, EffectiveSettings(make_settings(max_concurrency=1, queue_size=1), state.overrides), state, mock.MagicMock(), None)
    gate = threading.Event()
    worker.handle = lambda job: gate.wait(10)
    _kept(pending, 4)
    try:
        _runtime(state, worker, pending).recover()
        deadline = time.monotonic() + 10  # one running, one queued: a loaded machine takes its time
        while (pending.count() != 2 or worker.pending < 2) and time.monotonic() < deadline:
            time.sleep(0.05)
        report = worker.shutdown(wait=True, grace_s=0.1)
        time.sleep(1.5)  # the feeder notices intake stopped
        assert len(report.unfinished) == 2 and pending.count() == 2  # each question kept exactly once
    finally:
        gate.set()
        state.close()


def test_a_question_whose_redaction_fails_at_shutdown_is_kept_without_its_words_and_asked_again(make_settings, tmp_path):
    """No raw text at rest, and the next start neither crashes nor drops it: the asker is asked to send it again."""
    state = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    pending = PendingQuestions(f"sqlite:///{tmp_path / 'pending.db'}")
    slack = mock.MagicMock()
    worker = QuestionWorker(None, EffectiveSettings(make_settings(), state.overrides), state, slack, OutboxDeliverer(state, slack))
    worker.handle = lambda job: None

    def broken_redactor(text):
        raise RuntimeError("presidio failed")

    job = QuestionJob(text="my card 4539 1488 0343 6467 was declined", user_id="U1", channel_id="C1", message_ts="1.1", thread_ts="1.1")
    pending.save([_job_payload(job, broken_redactor)], reason="shutdown")
    with sqlite3.connect(tmp_path / "pending.db") as db:
        assert "4539" not in str(db.execute("SELECT * FROM pending_questions").fetchall())
    try:
        _runtime(state, worker, pending).recover()
        posted = [call.kwargs for call in slack.chat_postMessage.call_args_list]
        assert len(posted) == 1 and posted[0]["thread_ts"] == "1.1" and "again" in posted[0]["text"]
        assert pending.count() == 0
    finally:
        worker.shutdown(wait=False)
        state.close()


def test_a_kept_question_someone_pointed_at_stays_its_writers():
    """After a restart her question was filed under the colleague who pointed ragbot at it."""
    from bot.runtime.lifecycle import _job
    from bot.runtime.pending import asker_of

    job = QuestionJob(text="Where do I file expenses for my medical leave?", user_id="UBOB", channel_id="C1", message_ts="1.2", thread_ts="1.1",
                      written_by="UALICE", pointed_at="1.1")
    payload = _job_payload(job, None)
    again = _job(payload)
    assert (again.asker_id, again.pointed_at) == ("UALICE", "1.1")
    assert asker_of(json.dumps(payload)) == "UALICE"  # her forget deletes the kept row, his does not
