"""Questions kept by a shutdown are answered by a later start, even when the first start is too busy."""

from __future__ import annotations

import time
import types
from unittest import mock

from bot.runtime.lifecycle import ServingRuntime, _job_payload
from bot.runtime.pending import PendingQuestions
from bot.slack.effective import EffectiveSettings
from bot.slack.worker import QuestionJob, QuestionWorker
from bot.state import open_state


def test_a_kept_question_refused_by_a_full_queue_at_restart_is_kept_again_not_marked_handled(make_settings, tmp_path):
    settings = make_settings()
    state = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    pending = PendingQuestions(f"sqlite:///{tmp_path / 'pending.db'}")
    worker = QuestionWorker(None, EffectiveSettings(settings, state.overrides), state, mock.MagicMock(), None)
    runtime = ServingRuntime.__new__(ServingRuntime)
    runtime.bot, runtime.pending = types.SimpleNamespace(state=state, worker=worker), pending
    job = QuestionJob(text="How many vacation days do I get?", user_id="U1", channel_id="C1", message_ts="1.1", thread_ts="1.1")
    pending.save([_job_payload(job, None)], reason="shutdown")
    try:
        worker._pool.submit = lambda job: False  # the queue is full at the first restart
        assert runtime.recover() == 0 and pending.count() == 1
        time.sleep(0.5)  # a turn-away is recorded beside the caller
        assert state.questions.get(job.request_id) is None  # not recorded as turned away: it is still owed an answer
        taken = []
        worker._pool.submit = lambda job: taken.append(job.request_id) or True  # the next start has room
        assert runtime.recover() == 1 and taken == [job.request_id] and pending.count() == 0
    finally:
        state.close()
