"""A process killed without a shutdown (SIGKILL, the OOM killer) leaves no asker waiting: the
in-flight journal (bot/runtime/in_flight.py) lets a live instance adopt its questions, read them
back from Slack and answer them. End to end over HTTP with the real Bolt app and the Web API fake."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import update

from bot.runtime.in_flight import STUCK_S, InFlightQuestions, in_flight_table
from bot.runtime.lifecycle import LOST_TEXT
from tests.bot.runtime.test_slack_faults import GatedGenerator, rig, wait_for  # noqa: F401 - rig is a fixture

pytestmark = pytest.mark.slow  # the serving runtime's question log redacts with the real Presidio engine


def _expire(journal: InFlightQuestions, **where) -> None:
    """As if the process that owns the rows stopped renewing them a while ago."""
    with journal.engine.begin() as conn:
        conn.execute(update(in_flight_table).where(*(in_flight_table.c[k] == v for k, v in where.items())).values(lease_until=0))


def _row(journal: InFlightQuestions, request_id: str, **extra) -> None:
    journal.begin(request_id, {"request_id": request_id, "user_id": "U1", "channel_id": "C1", "message_ts": "1.1", "thread_ts": "1.1", **extra})


def _release(generator) -> None:
    generator.closed = True
    generator.gate.set()


def test_rows_are_adopted_once_and_only_when_their_process_stopped_renewing(database_url):
    url = database_url
    dead, live, other = InFlightQuestions(url), InFlightQuestions(url), InFlightQuestions(url)
    for request_id in ("r1", "r2"):
        _row(dead, request_id)
    _row(live, "r3")
    dead.end("r2")  # answered
    assert live.adopt_one() is None and other.adopt_one() is None  # leases still running
    _expire(dead, instance=dead.instance)
    _expire(live, instance=live.instance)
    assert live.renew() == 1  # a live process renews its own: nobody adopts them
    assert dead.adopt_one() is None  # nor its own rows, whatever their lease
    assert live.adopt_one()["request_id"] == "r1"
    assert other.adopt_one() is None  # each row is adopted once: taken over, under a fresh lease
    live.give_back("r1")  # no room now: a later round (or another instance) takes it again
    assert other.adopt_one() is None  # not at once: the same round would spin on it
    _expire(live, request_id="r1")
    assert other.adopt_one()["request_id"] == "r1"
    assert live.release_all() == 1 and live.count() == 1  # other's row stays


def test_an_orphan_whose_question_a_live_row_carries_is_dropped_not_adopted(database_url):
    """Kept by a shutdown and re-queued by the next start, the question is journaled again:
    the old row must not bring a second answer."""
    dead, live = InFlightQuestions(database_url), InFlightQuestions(database_url)
    _row(dead, "r1")
    _row(live, "r1")
    _expire(dead, instance=dead.instance)
    assert live.adopt_one() is None and live.count() == 1


def test_a_row_left_by_a_failed_end_is_dropped_by_its_own_process(database_url):
    journal = InFlightQuestions(database_url)
    _row(journal, "r1")
    with journal.engine.begin() as conn:
        conn.execute(update(in_flight_table).values(started_at=time.time() - STUCK_S - 1))
    assert journal.renew() == 0 and journal.count() == 0


def test_a_killed_process_questions_are_read_back_from_slack_and_answered_by_the_next(rig):
    start, api = rig
    generator = GatedGenerator()  # question 0 is answered; 2 and 3 hang in the generator
    a = start(generator=generator, max_concurrency=2, shutdown_grace_s=1)
    events = [a.slack.mention(f"vpn question {n}, thanks")[1] for n in (0, 2, 3)]
    for event in events[:2]:
        api.said(event)  # Slack keeps the messages; the third one was deleted meanwhile
    assert wait_for(lambda: len(a.replies(events[0]["ts"])) == 1)
    assert wait_for(lambda: a.runtime.in_flight.count() == 2)  # journaled at receipt, the answered one gone

    # SIGKILL: no shutdown runs, nothing is kept in pending_questions, the leases run out
    a.runtime._stop_renewing.set()
    a.runtime._stop_adopting.set()
    a.server.stop()
    _expire(a.runtime.in_flight)
    assert a.runtime.pending.count() == 0

    b = start(data_dir=a.settings.data_dir)
    assert wait_for(lambda: b.replies(events[1]["ts"]) and b.replies(events[2]["ts"]), timeout=20)
    assert b.bot.drain(20)
    [answer] = b.replies(events[1]["ts"])
    assert "GlobalProtect" in answer.args["text"]  # read back from Slack and answered
    assert b.texts(events[2]["ts"]) == [LOST_TEXT]  # gone from Slack: asked to send it again
    assert wait_for(lambda: b.api.find("reactions.remove", channel="C1", timestamp=events[2]["ts"]))  # its hourglass, left by the killed process, taken off
    assert len(b.replies(events[0]["ts"])) == 1  # answered before the kill: not answered again
    assert wait_for(lambda: b.runtime.in_flight.count() == 0)  # adopted rows ended, b's own too
    a.stop()  # the "dead" process's hung questions are handed back, then its generator let go
    _release(generator)


def test_a_process_cut_off_from_the_database_leaves_an_adopted_question_to_its_adopter(rig):
    """Its leases ran out while it was alive (a database outage): the other instance adopts and
    answers; when the first one's generator returns, the request id is taken and it stays quiet."""
    start, api = rig
    generator = GatedGenerator()
    a = start(generator=generator, max_concurrency=1)
    _, event = a.slack.mention("vpn question 2, thanks")
    api.said(event)
    assert wait_for(lambda: a.runtime.in_flight.count() == 1)
    a.runtime._stop_renewing.set()
    _expire(a.runtime.in_flight)
    b = start(data_dir=a.settings.data_dir)
    assert wait_for(lambda: b.replies(event["ts"]), timeout=20) and b.bot.drain(20)
    generator.gate.set()  # a, alive all along, finishes its question
    assert a.bot.drain(20)
    time.sleep(0.3)
    assert len(b.replies(event["ts"])) == 1, b.texts(event["ts"])


def test_questions_re_queued_at_start_are_journaled_and_a_kept_question_is_answered_once(rig, monkeypatch):
    start, api = rig
    generator = GatedGenerator()
    a = start(generator=generator, max_concurrency=1, shutdown_grace_s=1)
    _, event = a.slack.mention("vpn question 2, thanks")
    api.said(event)
    assert wait_for(lambda: a.runtime.in_flight.count() == 1)
    a.stop()  # kept in pending_questions and released from the journal in one transaction
    _release(generator)
    assert a.runtime.pending.count() == 1 and InFlightQuestions(a.settings.effective_database_url).count() == 0
    later = GatedGenerator()
    b = start(generator=later, data_dir=a.settings.data_dir)
    assert b.runtime.recovered == 1
    assert wait_for(lambda: b.runtime.in_flight.count() == 1)  # a kill now would not lose it
    later.gate.set()
    assert b.bot.drain(20)
    assert len(b.replies(event["ts"])) == 1


def test_an_orphan_taken_during_shutdown_is_given_back_not_turned_away(rig):
    start, api = rig
    b = start(max_concurrency=1, shutdown_grace_s=1)
    dead = InFlightQuestions(b.settings.effective_database_url)
    ts = "1700000999.000100"
    api.said({"type": "message", "ts": ts, "text": "how do I reset my vpn token?", "user": "UOTHER", "channel": "C1"})
    _row(dead, "orphan1", message_ts=ts, thread_ts=ts, received_at=time.time())
    b.bot.worker._pool.shutdown(0)  # intake has stopped
    _expire(dead, instance=dead.instance)
    assert b.runtime.adopt_orphans() == 0
    assert b.texts(ts) == [] and dead.count() == 1  # nobody told "busy"; another instance (or the next start) takes it
    _expire(dead)
    assert InFlightQuestions(b.settings.effective_database_url).adopt_one()["request_id"] == "orphan1"


def test_slack_failing_for_now_puts_the_read_back_off_but_a_refusal_asks_again_at_once(rig):
    start, api = rig
    b = start()
    dead = InFlightQuestions(b.settings.effective_database_url)
    asked = {"type": "message", "ts": "1700000999.000100", "text": "how do I connect to the vpn?", "user": "UOTHER", "channel": "C1"}
    api.said(asked)
    _row(dead, "orphan1", message_ts=asked["ts"], thread_ts=asked["ts"], received_at=time.time())
    _expire(dead)
    api.fail("conversations.history", times=1, status=503)
    assert b.runtime.adopt_orphans() == 0 and b.texts(asked["ts"]) == [] and dead.count() == 1  # kept for a later round
    _expire(dead)
    assert b.runtime.adopt_orphans() == 1 and b.bot.drain(20)
    assert "GlobalProtect" in b.texts(asked["ts"])[0]
    _row(dead, "orphan2", message_ts="1700000999.000200", thread_ts="1700000999.000200", received_at=time.time())
    _expire(dead)
    api.fail("conversations.history", times=1, status=200, error="missing_scope")
    b.runtime.adopt_orphans()
    assert b.texts("1700000999.000200") == [LOST_TEXT]
