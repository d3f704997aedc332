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


def test_rows_are_adopted_once_and_only_when_their_process_stopped_renewing(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    dead, live, other = InFlightQuestions(url), InFlightQuestions(url), InFlightQuestions(url)
    dead.begin("r1", {"request_id": "r1", "user_id": "U1"})
    dead.begin("r2", {"request_id": "r2", "user_id": "U2"})
    live.begin("r3", {"request_id": "r3", "user_id": "U3"})
    dead.end("r2")  # answered
    assert live.take_orphans() == [] and other.take_orphans() == []  # leases still running
    _expire(dead, instance=dead.instance)
    _expire(live, instance=live.instance)
    assert live.renew() == 1  # a live process renews its own: nobody adopts them
    assert dead.take_orphans() == []  # nor its own rows, whatever their lease
    assert [p["request_id"] for p in live.take_orphans()] == ["r1"]
    assert other.take_orphans() == []  # each row is adopted once
    assert live.count() == 1 and live.release_all() == 1 and live.count() == 0


def test_a_row_left_by_a_failed_end_is_dropped_by_its_own_process(tmp_path):
    journal = InFlightQuestions(f"sqlite:///{tmp_path / 'state.db'}")
    journal.begin("r1", {"request_id": "r1"})
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
    a.runtime._stopping.set()
    a.server.stop()
    _expire(a.runtime.in_flight)
    assert a.runtime.pending.count() == 0

    b = start(data_dir=a.settings.data_dir)
    assert wait_for(lambda: b.replies(events[1]["ts"]) and b.replies(events[2]["ts"]), timeout=20)
    assert b.bot.drain(20)
    [answer] = b.replies(events[1]["ts"])
    assert "GlobalProtect" in answer.args["text"]  # read back from Slack and answered
    assert b.texts(events[2]["ts"]) == [LOST_TEXT]  # gone from Slack: asked to send it again
    assert len(b.replies(events[0]["ts"])) == 1  # answered before the kill: not answered again
    assert b.runtime.in_flight.count() == 0  # adopted rows taken, b's own ended
    a.stop()  # the "dead" process's hung questions are handed back, then its generator let go
    generator.closed = True
    generator.gate.set()
