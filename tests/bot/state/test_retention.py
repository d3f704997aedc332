"""Retention and forgetting one person (bot/state/retention.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.runtime.in_flight import InFlightQuestions
from bot.runtime.pending import PendingQuestions
from bot.state import Escalation, QuestionRecord, open_state
from bot.state.models import utcnow
from bot.state.outbox import KIND_ESCALATION_UPDATE


@pytest.fixture
def state(database_url):
    store = open_state(database_url)
    yield store
    store.close()


def _ask(state, request_id: str, user: str, *, days_ago: float = 0, escalate: bool = False, asker: str | None = None) -> int | None:
    record = QuestionRecord(request_id=request_id, outcome="answered", question=f"question of {user}", answer_text="a", user_hash=f"h-{user}", thread_key=request_id)
    record.created_at = utcnow() - timedelta(days=days_ago)
    escalation = None
    if escalate:
        escalation = Escalation(request_id=request_id, channel_id="C1", thread_ts="1.1", asker_id=user if asker is None else asker,
                                escalation_channel="CESC", question=f"question of {user}")
        escalation.created_at = record.created_at
    return state.questions.record(record, replies=[{"channel": "C1", "text": "a"}], escalation=escalation)


def _ids(state) -> set[str]:
    return {r.request_id for r in state.questions.list()}


def test_prune_deletes_old_records_their_feedback_and_answered_escalations(state):
    _ask(state, "old", "U1", days_ago=400)
    old_open = _ask(state, "old-open", "U1", days_ago=400, escalate=True)
    recent_open = _ask(state, "recent-open", "U1", days_ago=3, escalate=True)
    old_done = _ask(state, "old-done", "U2", days_ago=400, escalate=True)
    _ask(state, "new", "U1", days_ago=3)
    state.questions.add_feedback("old", "h-U3", True)
    state.questions.add_feedback("new", "h-U3", True)
    state.escalations.resolve(old_done, "UHUMAN", "the answer")
    with state.db.transaction() as session:  # answered long ago, its posts long sent
        session.get(Escalation, old_done).resolved_at = utcnow() - timedelta(days=399)
    for row in state.outbox.all():
        state.outbox.sent(row.id, "1.2")
    removed = state.retention.prune(timedelta(days=365))
    assert _ids(state) == {"new", "recent-open"} and removed.questions == 3
    assert [f.request_id for f in state.questions.feedback()] == ["new"] and removed.feedback == 1
    # answered long ago, or asked long ago and never answered: both go; a recent one waits for its human
    assert state.escalations.get(old_open) is None and state.escalations.get(old_done) is None
    assert state.escalations.get(recent_open) is not None and removed.escalations == 2
    assert state.retention.prune(timedelta(days=365)).questions == 0


def test_forget_user_deletes_what_they_asked_and_unnames_what_they_handled(state):
    _ask(state, "mine", "U1")
    mine_escalated = _ask(state, "mine-esc", "U1", escalate=True)
    _ask(state, "theirs", "U2")
    handled = _ask(state, "theirs-esc", "U2", escalate=True)
    answered = _ask(state, "theirs-done", "U2", escalate=True)
    state.questions.add_feedback("theirs", "h-U1", False)  # U1's vote on U2's answer
    state.questions.add_feedback("mine", "h-U2", True)  # U2's vote on U1's answer
    state.escalations.claim(handled, "U1")
    state.escalations.resolve(answered, "U1", "here you go")
    PendingQuestions(state.db.engine).save([{"user_id": "U1", "text": "kept"}, {"user_id": "U2", "text": "kept"}])
    journal = InFlightQuestions(state.db.engine, instance="dead-process")  # an orphan of theirs must not be adopted and answered later
    journal.begin("mine-next", {"user_id": "U1", "request_id": "mine-next"})
    journal.begin("theirs-next", {"user_id": "U2", "request_id": "theirs-next"})

    removed = state.retention.forget_user("U1", "h-U1", by="UADMIN")

    assert _ids(state) == {"theirs", "theirs-esc", "theirs-done"}
    assert state.questions.feedback() == [] and removed.feedback == 2
    assert state.escalations.get(mine_escalated) is None and removed.escalations == 1
    assert not [row for row in state.outbox.all() if row.request_id in ("mine", "mine-esc")]
    back = state.escalations.get(handled)
    assert (back.status, back.claimed_by) == ("open", None)  # someone else can take it
    assert any(row.kind == KIND_ESCALATION_UPDATE and row.escalation_id == handled for row in state.outbox.all())  # its post changes
    done = state.escalations.get(answered)
    assert (done.status, done.answered_by, done.claimed_by, done.human_answer) == ("resolved", None, None, "here you go")
    assert removed.unnamed == 2 and removed.kept_questions == 1
    assert [p["user_id"] for p in PendingQuestions(state.db.engine).take_all()] == ["U2"]
    assert removed.in_flight == 1 and journal.count() == 1
    [entry] = state.overrides.audit()
    assert (entry.user_id, entry.action) == ("UADMIN", "forget") and "U1" not in (entry.new_value or "") + entry.scope + entry.key
    assert "2 question record(s)" in str(removed)


def test_an_escalation_counts_from_its_answer_and_waits_for_its_owed_posts(state):
    """Answered today after waiting 10 days: not pruned at 7 days, and never before its relay is sent."""
    late = _ask(state, "late", "U1", days_ago=10, escalate=True)
    with state.db.transaction() as session:
        session.get(Escalation, late).created_at = utcnow() - timedelta(days=10)
    state.escalations.resolve(late, "UHUMAN", "the answer")  # queues the relay and the post update
    assert state.retention.prune(timedelta(days=7)).escalations == 0 and state.escalations.get(late) is not None
    for row in state.outbox.all():
        state.outbox.sent(row.id, "1.2")
    later = utcnow() + timedelta(days=8)
    assert state.retention.prune(timedelta(days=7), now=later).escalations == 1 and state.escalations.get(late) is None


def test_forget_finds_an_escalation_someone_else_asked_for_and_their_ephemeral_messages(state):
    """'Ask a human' pressed by another person stores no asker id; the record still names them."""
    from bot.state.outbox import KIND_EPHEMERAL

    other_pressed = _ask(state, "b-followup", "UB", escalate=True, asker="")
    state.outbox.enqueue(KIND_EPHEMERAL, {"channel": "D0DM1", "user": "UB", "text": "Thanks, glad it helped!"})
    state.outbox.enqueue(KIND_EPHEMERAL, {"channel": "C1", "user": "UC", "text": "for someone else"})
    removed = state.retention.forget_user("UB", "h-UB")
    assert state.escalations.get(other_pressed) is None and removed.escalations == 1
    assert [row.payload.get("user") for row in state.outbox.all() if row.kind == KIND_EPHEMERAL] == ["UC"]


def test_forget_works_past_the_databases_bound_parameter_limits(state):
    """Ids go to the database in chunks (PostgreSQL refuses more than 65,535 parameters)."""
    from sqlalchemy import insert

    rows = [{"request_id": f"r{i}", "outcome": "answered", "user_hash": "h-U1", "thread_key": f"r{i}", "created_at": utcnow()} for i in range(70_000)]
    with state.db.transaction() as session:
        session.execute(insert(QuestionRecord), rows)
    assert state.retention.forget_user("U1", "h-U1").questions == 70_000 and state.questions.list(limit=1) == []


def test_a_row_deleted_while_being_sent_is_no_crash(state):
    row_id = state.outbox.enqueue("reply", {"channel": "C1", "user": "U1"}, request_id="mine")
    _ask(state, "mine", "U1")
    assert state.outbox.claim(row_id) is not None
    state.retention.forget_user("U1", "h-U1")
    state.outbox.sent(row_id, "1.2")
    assert state.outbox.failed(row_id, "TimeoutError").status == "dead"
    assert state.outbox.get(row_id) is None
