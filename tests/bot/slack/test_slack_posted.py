"""A post Slack made although the call failed is not made twice (bot/slack/posted.py).

chat.postMessage has no idempotency key: a timeout or a 5xx after Slack posted used to give
two identical replies when the outbox retried. The real Bolt app and deliverer run against
the local Web API fake, which keeps what was posted and answers conversations.replies and
conversations.history from it (metadata only with include_all_metadata, like Slack)."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.state.models import utcnow
from bot.state.outbox import marks

LATER = timedelta(minutes=10)  # past any backoff


def _retry(h) -> int:
    return h.bot.deliverer.flush(now=utcnow() + LATER)


def test_a_reply_slack_posted_before_answering_500_is_not_posted_again(start_bot):
    h = start_bot()
    h.api.fail("chat.postMessage", times=1, took_effect=True, when=lambda a: a.get("channel") == "C1")
    _, event = h.slack.mention("vpn?")
    h.settle()
    [landed] = h.replies("C1", event["ts"])  # Slack has it, the bot was told it failed
    [row] = h.state.outbox.all()
    assert row.status == "pending" and marks(row.last_error)[1]
    assert _retry(h) == 1
    assert len(h.replies("C1", event["ts"])) == 1, "posted twice"
    [look] = h.api.find("conversations.replies", channel="C1", ts=event["ts"])
    assert look.args["include_all_metadata"] in ("1", "true", True)
    [row] = h.state.outbox.all()
    assert row.status == "sent" and row.result_ts == landed.response["ts"]
    assert h.state.questions.list()[0].delivery_status == "sent"


def test_a_reply_whose_answer_came_after_the_client_deadline_is_not_posted_again(start_bot):
    h = start_bot()
    h.bot.deliverer.client.timeout = 0.5
    h.api.delays["chat.postMessage"] = 1.5  # Slack posts, then answers after the client gave up
    _, event = h.slack.mention("vpn?")
    h.settle()
    h.api.wait_for("chat.postMessage", channel="C1", thread_ts=event["ts"])
    h.api.delays.clear()
    assert marks(h.state.outbox.all()[0].last_error)[1]
    _retry(h)
    assert len(h.replies("C1", event["ts"])) == 1, "posted twice"
    assert h.state.outbox.all()[0].status == "sent"


def test_a_reply_that_did_not_land_is_posted_after_looking(start_bot):
    h = start_bot()
    h.api.fail("chat.postMessage", times=1, when=lambda a: a.get("channel") == "C1")  # 500, nothing posted
    _, event = h.slack.mention("vpn?")
    h.settle()
    assert _retry(h) == 1
    [reply] = h.replies("C1", event["ts"])
    assert h.api.find("conversations.replies", channel="C1")
    assert reply.args["metadata"]["event_payload"]["outbox_id"] == h.state.outbox.all()[0].id


def test_a_refused_post_is_retried_without_looking(start_bot):
    """A 4xx refusal posted nothing: no history read is spent on it."""
    h = start_bot()
    h.api.fail("chat.postMessage", times=1, status=400, error="invalid_arguments", when=lambda a: a.get("channel") == "C1")
    _, event = h.slack.mention("vpn?")
    h.settle()
    _retry(h)
    assert len(h.replies("C1", event["ts"])) == 1 and not h.api.find("conversations.replies")


def test_when_slack_cannot_be_read_the_reply_is_posted_again_and_the_risk_logged(start_bot, caplog):
    """No history scope (or any read failure): a possible duplicate is better than silence."""
    h = start_bot()
    h.api.fail("chat.postMessage", times=1, took_effect=True, when=lambda a: a.get("channel") == "C1")
    h.api.fail("conversations.replies", times=1, status=200, error="missing_scope")
    _, event = h.slack.mention("vpn?")
    h.settle()
    with caplog.at_level(logging.WARNING, logger="bot.slack.delivery"):
        assert _retry(h) == 1
    assert len(h.replies("C1", event["ts"])) == 2
    assert any("missing_scope" in r.getMessage() and "twice" in r.getMessage() for r in caplog.records)


def test_an_unsure_row_stays_unsure_through_a_rate_limit(start_bot):
    h = start_bot()
    h.api.fail("chat.postMessage", times=1, took_effect=True, when=lambda a: a.get("channel") == "C1")
    h.api.fail("conversations.replies", times=1, status=429, retry_after=30)
    _, event = h.slack.mention("vpn?")
    h.settle()
    assert _retry(h) == 0  # rate limited while looking
    assert marks(h.state.outbox.all()[0].last_error)[1]
    assert h.bot.deliverer.flush(now=utcnow() + 2 * LATER) == 1
    assert len(h.replies("C1", event["ts"])) == 1, "posted twice"


def test_an_escalation_post_that_landed_is_not_posted_again_and_its_updates_edit_it(start_bot):
    h = start_bot()
    h.api.fail("chat.postMessage", times=1, took_effect=True, when=lambda a: a.get("channel") == "CESC")
    h.slack.mention("Where do I file expenses?")
    h.settle()
    [landed] = h.api.find("chat.postMessage", channel="CESC")
    [esc] = h.state.escalations.open()
    h.state.escalations.claim(esc.id, "UHUMAN")
    _retry(h)
    _retry(h)
    assert len(h.api.find("chat.postMessage", channel="CESC")) == 1, "escalation posted twice"
    assert h.api.find("conversations.history", channel="CESC")
    assert h.state.escalations.get(esc.id).message_ts == landed.response["ts"]
    [update] = h.api.find("chat.update", channel="CESC")
    assert update.args["ts"] == landed.response["ts"]


def test_a_row_taken_over_from_a_stopped_sender_looks_before_posting(start_bot):
    """The sender died mid-call (after Slack posted, before the row was marked sent)."""
    h = start_bot()
    h.api.fail("chat.postMessage", times=1, took_effect=True, when=lambda a: a.get("channel") == "C1")
    _, event = h.slack.mention("vpn?")
    h.settle()
    [row] = h.state.outbox.all()
    with h.state.db.transaction() as session:  # as the stopped instance left it: sending, no mark
        stored = session.get(type(row), row.id)
        stored.status, stored.last_error, stored.next_attempt_at = "sending", None, utcnow()
    _retry(h)
    assert len(h.replies("C1", event["ts"])) == 1, "posted twice"


def test_when_reading_slack_fails_for_now_the_row_waits_still_unsure(start_bot):
    h = start_bot()
    h.api.fail("chat.postMessage", times=1, took_effect=True, when=lambda a: a.get("channel") == "C1")
    h.api.fail("conversations.replies", times=1, status=503)
    _, event = h.slack.mention("vpn?")
    h.settle()
    assert _retry(h) == 0
    assert marks(h.state.outbox.all()[0].last_error)[1] and len(h.replies("C1", event["ts"])) == 1
    assert h.bot.deliverer.flush(now=utcnow() + 2 * LATER) == 1
    assert len(h.replies("C1", event["ts"])) == 1, "posted twice"


def test_slacks_own_maybe_done_errors_are_looked_up_before_posting_again(start_bot):
    """internal_error / fatal_error come with HTTP 200 and may follow a post that landed."""
    h = start_bot()
    h.api.fail("chat.postMessage", times=1, status=200, error="fatal_error", took_effect=True, when=lambda a: a.get("channel") == "C1")
    _, event = h.slack.mention("vpn?")
    h.settle()
    _retry(h)
    assert len(h.replies("C1", event["ts"])) == 1, "posted twice"


def test_when_reading_keeps_failing_the_row_is_posted_anyway_not_dropped(start_bot):
    """Silence is worse than a duplicate: after READ_TRIES attempts the post goes without the look-up."""
    from bot.slack.delivery import READ_TRIES

    h = start_bot()
    h.api.fail("chat.postMessage", times=1, when=lambda a: a.get("channel") == "C1")  # nothing landed
    h.api.fail("conversations.replies", times=99, status=503)
    _, event = h.slack.mention("vpn?")
    h.settle()
    for hour in range(1, READ_TRIES + 1):
        h.bot.deliverer.flush(now=utcnow() + timedelta(hours=hour))
    assert len(h.replies("C1", event["ts"])) == 1
    assert h.state.outbox.all()[0].status == "sent" and h.state.questions.list()[0].delivery_status == "sent"


def _job():
    from bot.slack.worker import QuestionJob

    return QuestionJob(text="vpn?", user_id="U1", channel_id="C1", message_ts="1700000000.000100", thread_ts="1700000000.000100")


def test_a_note_slack_posted_before_answering_500_is_not_posted_again(start_bot):
    """Busy, failure and ask-again notes go through the outbox like replies (they were posted
    directly, and a timeout queued a fresh copy that nobody looked up first)."""
    from bot.slack.worker import BUSY_TEXT

    h = start_bot()
    h.api.fail("chat.postMessage", times=1, took_effect=True, when=lambda a: a.get("channel") == "C1")
    job = _job()
    h.bot.worker.post_note(job, BUSY_TEXT)
    [row] = h.state.outbox.all()
    assert row.status == "pending" and marks(row.last_error)[1]
    assert _retry(h) == 1
    [note] = h.replies("C1", job.thread_ts)
    assert note.args["text"] == BUSY_TEXT and h.state.outbox.all()[0].status == "sent"


def test_a_note_is_posted_directly_when_the_database_cannot_take_it(start_bot, monkeypatch):
    from bot.slack.worker import BUSY_TEXT

    h = start_bot()

    def down(*args, **kwargs):
        raise ConnectionError("database is down")

    monkeypatch.setattr(h.state.outbox, "enqueue", down)
    job = _job()
    h.bot.worker.post_note(job, BUSY_TEXT)
    [note] = h.replies("C1", job.thread_ts)
    assert note.args["text"] == BUSY_TEXT and h.state.outbox.all() == []
