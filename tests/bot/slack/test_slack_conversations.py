"""Questions in Slack end to end: the real Bolt app over HTTP on 127.0.0.1, signed requests in,
Web API calls recorded by a local fake. The pipeline is real, with simple deterministic parts."""

from __future__ import annotations

import json
import logging
import re
import time

import pytest

from bot.state.models import QuestionRecord
from tests.bot.slack.slack_fakes import simple_pipeline


def _texts(call) -> str:
    return json.dumps(call.args.get("blocks", [])) + call.args.get("text", "")


def _buttons(call) -> list[str]:
    return [e["action_id"] for b in call.args["blocks"] if b["type"] == "actions" for e in b["elements"]]


def test_mention_is_answered_in_its_thread_with_sources_confidence_and_buttons(start_bot):
    h = start_bot()
    response, event = h.slack.mention("How do I connect to the VPN?")
    assert response.status == 200 and response.seconds < 3
    h.settle()
    [reply] = h.replies("C1", event["ts"])
    shown = _texts(reply)
    assert "GlobalProtect" in shown
    assert "<https://wiki.example.com/vpn|VPN guide>" in shown  # numbered source as a link
    assert "1. " in shown and "Confidence: high" in shown
    assert _buttons(reply) == ["ragbot_helpful", "ragbot_not_helpful", "ragbot_ask_human"]
    assert all(len(b["text"]["text"]) <= 3000 for b in reply.args["blocks"] if b["type"] == "section")
    # it showed it was working, then stopped showing it
    assert h.api.find("reactions.add", channel="C1", timestamp=event["ts"])
    assert h.api.find("reactions.remove", channel="C1", timestamp=event["ts"])
    # the record is stored, with hashed ids and without the mention markup
    [record] = h.state.questions.list()
    assert record.outcome == "answered" and record.delivery_status == "sent"
    assert record.question == "How do I connect to the VPN?"
    assert "UASKER" not in (record.user_hash + record.channel_hash)
    assert not h.api.find("chat.postMessage", channel="CESC")  # confident: no escalation


def test_slack_retry_of_the_same_event_is_not_answered_twice(start_bot, caplog):
    caplog.set_level(logging.INFO, logger="bot.slack.app")
    h = start_bot()
    event = {"type": "app_mention", "user": "UASKER", "text": "<@UBOT> vpn please", "channel": "C1", "ts": "1600000001.000100"}
    first, event_id = h.slack.event(event)
    h.settle()
    retry, _ = h.slack.event(event, event_id=event_id, retry=1)
    again, _ = h.slack.event(event, event_id=event_id, retry=2)
    h.settle()
    assert first.status == retry.status == again.status == 200
    assert len(h.replies("C1", event["ts"])) == 1
    assert len(h.state.questions.list()) == 1
    dropped = [r.getMessage() for r in caplog.records if "already taken" in r.getMessage()]
    assert [m.split("(")[1].split(")")[0] for m in dropped] == ["retry 1", "retry 2"]  # the number is Slack's header


def test_editing_a_mention_does_not_get_a_second_answer(start_bot):
    h = start_bot()
    event = {"type": "app_mention", "user": "UASKER", "text": "<@UBOT> vpn please", "channel": "C1", "ts": "1600000001.000200"}
    h.slack.event(event)
    h.settle()
    edited = {**event, "text": "<@UBOT> vpn please, GlobalProtect", "edited": {"user": "UASKER", "ts": "1600000009.000000"}}
    response, _ = h.slack.event(edited)  # Slack sends an edit as a new app_mention with a new event id
    h.settle()
    assert response.status == 200
    assert len(h.replies("C1", event["ts"])) == 1 and len(h.state.questions.list()) == 1


def test_a_mention_refused_as_empty_or_a_greeting_is_answered_once_edited_into_a_question(start_bot, make_settings):
    from bot.stages.guard import InputGuardStage
    from guardrails.normalize import QuestionShapeValidator

    pipeline, _ = simple_pipeline(make_settings(min_relevance=0.3))
    pipeline.stages[0] = InputGuardStage([QuestionShapeValidator()])
    h = start_bot(pipeline=pipeline)
    for n, first in enumerate(("<@UBOT>", "<@UBOT> hi", "<@UBOT> :wave: :tada:")):
        event = {"type": "app_mention", "user": "UASKER", "text": first, "channel": "C1", "ts": f"160000002{n}.000100"}
        h.slack.event(event)
        h.settle()
        edited = {**event, "text": "<@UBOT> How do I set up the VPN?", "edited": {"user": "UASKER", "ts": f"160000003{n}.000000"}}
        h.slack.event(edited)
        h.settle()
        replies = h.replies("C1", event["ts"])
        assert len(replies) == 2, [r.args.get("text") for r in replies]  # the "type a question" note, then the answer
        h.slack.event({**edited, "text": "<@UBOT> How do I set up the VPN on Linux?"})  # a further edit: answered already
        h.settle()
        assert len(h.replies("C1", event["ts"])) == 2


def test_with_the_state_database_down_a_question_still_gets_a_reply(start_bot):
    from sqlalchemy.exc import OperationalError

    h = start_bot()

    def down(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    h.state.events.db.transaction = down  # claims, overrides and records all fail from here on
    h.state.overrides.db.transaction = down
    event = {"type": "app_mention", "user": "UASKER", "text": "<@UBOT> vpn please", "channel": "C1", "ts": "1600000003.000100"}
    response, event_id = h.slack.event(event)
    retry, _ = h.slack.event(event, event_id=event_id, retry=1)
    h.settle()
    assert response.status == retry.status == 200  # no 500s for Slack to retry into
    assert len(h.replies("C1", event["ts"])) == 1  # answered (or told of the failure) once


def test_a_question_that_fails_after_the_pipeline_is_counted_as_failed(start_bot):
    """ragbot_questions_total says how the pipeline ended; an alert needs what the asker got."""
    from sqlalchemy.exc import OperationalError

    from bot.observability.metrics import BotMetrics

    metrics = BotMetrics(process_metrics=False)
    h = start_bot(bot_kwargs={"metrics": metrics})

    def down(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    h.state.questions.record = down
    _, event = h.slack.mention("vpn please")
    h.settle()
    [reply] = h.replies("C1", event["ts"])
    assert "something went wrong" in reply.args["text"]
    assert metrics.failed.labels("OperationalError")._value.get() == 1


def test_a_signed_payload_missing_fields_is_acknowledged_not_a_500(start_bot, caplog):
    h = start_bot()
    response, _ = h.slack.event({"type": "app_mention", "user": "UASKER", "text": "<@UBOT> vpn please", "ts": "1600000004.000100"})
    pressed = h.slack.interact({"type": "block_actions", "user": {"id": "UASKER"}, "actions": [{"action_id": "ragbot_helpful"}],
                                "container": {"channel_id": "C1", "message_ts": "1.1"}, "channel": {"id": "C1"}})
    assert response.status == 200 and pressed.status == 200
    assert "could not read: KeyError" in caplog.text and "Traceback" not in caplog.text


def test_processed_events_survive_a_restart(start_bot):
    h = start_bot()
    event = {"type": "app_mention", "user": "UASKER", "text": "<@UBOT> vpn", "channel": "C1", "ts": "1600000002.000100"}
    _, event_id = h.slack.event(event)
    h.settle()
    h2 = start_bot(data_dir=h.settings.data_dir)  # a new process on the same database
    h2.slack.event(event, event_id=event_id, retry=1)
    h2.settle()
    assert len(h.replies("C1", event["ts"])) == 1


def test_forged_and_stale_signatures_are_rejected(start_bot, caplog):
    caplog.set_level(logging.INFO)  # as `ragbot serve` logs, before Bolt sets up its loggers
    h = start_bot()
    body = json.dumps({"type": "event_callback", "event_id": "EvForged", "team_id": "T0001",
                       "event": {"type": "app_mention", "user": "U1", "text": "<@UBOT> vpn for jane.doe@example.com", "channel": "C1", "ts": "1.1"}})
    forged = h.slack.post(body, "application/json", headers={"X-Slack-Signature": "v0=" + "0" * 64, "X-Slack-Request-Timestamp": str(int(time.time()))}, signed=False)
    wrong_secret = type(h.slack)(h.server.url, secret="not-the-secret").post(body, "application/json")
    stale = h.slack.post(body, "application/json", timestamp=int(time.time()) - 6 * 60)
    unsigned = h.slack.post(body, "application/json", signed=False)
    assert forged.status == wrong_secret.status == stale.status == unsigned.status == 401
    time.sleep(0.2)
    h.settle()
    assert not h.api.find("chat.postMessage") and not h.state.questions.list()
    # Bolt logs each rejection with the request body: a stale but genuine event carries the question
    assert "Invalid request signature" in caplog.text and "jane.doe" not in caplog.text


def test_thread_follow_up_uses_earlier_turns_and_other_threads_are_ignored(start_bot):
    h = start_bot()
    _, first = h.slack.mention("How do I set up the VPN?")
    h.settle()
    _, follow = h.slack.message("and on my phone?", thread_ts=first["ts"])  # no mention needed
    for ack in ("thanks!", "thanks :pray:", ":+1::skin-tone-3:", ":+1: :+1:", "great, thanks!", "ok thanks", "perfect, thank you!",
                "thanks, that helps", "got it, thanks :+1:", "thank you very much", "Thanks a lot!"):  # acknowledgements, not questions
        h.slack.message(ack, thread_ts=first["ts"])
    h.slack.message("<@UCAROL> I think it was 20 weeks, I'll check with HR", thread_ts=first["ts"])  # to a person, not the bot
    h.slack.message("and on my laptop?", thread_ts=first["ts"], user="UCAROL")  # a colleague mentions the bot to ask it
    _, unrelated = h.slack.message("lunch anyone?", thread_ts="1599999999.000001")
    _, top_level = h.slack.message("vpn is down again")  # mention_only: ignored
    h.settle()
    assert len(h.replies("C1", first["ts"])) == 2
    assert h.generator.histories[-1] == ["How do I set up the VPN?"]  # the thread's question informed the follow-up, not the bot's answer
    assert not h.replies("C1", "1599999999.000001") and not h.replies("C1", top_level["ts"])


def test_a_mention_asking_about_someone_elses_thread_answers_its_first_message(start_bot):
    """"@ragbot can you answer this?" under a colleague's question was answered (refused) on its own words."""
    h = start_bot()
    _, asked = h.slack.message("How do I set up the VPN on my laptop?", user="UALICE")  # mention_only: not answered by itself
    h.api.said(asked)
    _, pointed = h.slack.mention("can you answer this?", user="UBOB", thread_ts=asked["ts"])
    _, own = h.slack.mention("where do I order a laptop?", user="UCAROL", thread_ts="1599999999.000001")  # a question of its own
    posted = {"type": "message", "ts": "1599999998.000001", "text": "Escalation #1: a question needs a human", "bot_id": "BBOT", "user": "UBOT", "channel": "C1"}
    h.api.said(posted)  # a thread under ragbot's own post: its text is no question of a person
    h.slack.mention("any idea?", user="UBOB", thread_ts=posted["ts"])
    h.settle()
    [reply] = h.replies("C1", asked["ts"])
    assert "GlobalProtect" in _texts(reply)
    assert {r.question for r in h.state.questions.list()} == {"How do I set up the VPN on my laptop?", "where do I order a laptop?", "any idea?"}
    assert "IT portal" in _texts(h.replies("C1", "1599999999.000001")[0])
    h.slack.message("and on my phone?", user="UALICE", thread_ts=asked["ts"], parent_user_id="UALICE")  # her question, her follow-up
    h.settle()
    assert len(h.replies("C1", asked["ts"])) == 2


def test_the_question_pointed_at_is_its_writers_record_not_the_pointers(start_bot):
    """Her question, her record: her `forget me` deletes it, his does not."""
    h = start_bot()
    _, asked = h.slack.message("Where do I file expenses for my medical leave?", user="UALICE")
    h.api.said(asked)
    h.slack.mention("can you answer this?", user="UBOB", thread_ts=asked["ts"])
    h.settle()
    [record] = h.state.questions.list()
    assert record.user_hash == h.bot.hasher("UALICE")
    [escalation] = h.state.escalations.open()
    assert escalation.asker_id == "UALICE"
    h.slack.command("forget me confirm", user="UBOB")
    assert len(h.state.questions.list()) == 1
    h.slack.command("forget me confirm", user="UALICE")
    assert h.state.questions.list() == [] and h.state.escalations.open() == []


def test_direct_messages_are_answered_and_bots_are_ignored(start_bot):
    h = start_bot()
    _, dm = h.slack.message("how do I order a laptop?", channel="D1", channel_type="im")
    _, other_bot = h.slack.message("vpn?", channel="D1", channel_type="im", bot_id="BOTHER", subtype="bot_message")
    _, own = h.slack.message("vpn?", channel="D1", channel_type="im", user="UBOT", bot_id="BBOT")
    _, edited = h.slack.message("vpn?", channel="D1", channel_type="im", subtype="message_changed")
    h.settle()
    h.slack.message("thank you!", channel="D1", channel_type="im")
    h.slack.message(":+1:", channel="D1", channel_type="im")
    h.settle()
    [reply] = h.api.find("chat.postMessage", channel="D1")
    assert reply.args["thread_ts"] == dm["ts"] and "IT portal" in _texts(reply)
    assert len(h.state.questions.list()) == 1


@pytest.mark.parametrize("minutes", [30, 0])
def test_a_follow_up_typed_as_a_new_direct_message_is_asked_with_the_one_before(start_bot, minutes):
    """In a DM every new message starts its own thread: "and on my phone?" was asked alone."""
    h = start_bot(dm_follow_up_minutes=minutes)
    for text in ("how do I set up the VPN?", "and on my phone?", "where do I order a laptop?"):
        h.slack.message(text, channel="D7", channel_type="im")
        h.settle()
    histories = h.generator.histories[1:]
    if minutes:
        assert histories == [["how do I set up the VPN?"], []]  # the follow-up leans on the question before; a new question does not
    else:
        assert all(history == [] for history in histories)  # alone, it found nothing to answer from (no generation) or was asked alone


def test_an_emoji_or_a_file_opening_a_direct_message_gets_a_reply(start_bot):
    """They were dropped as acknowledgements: a new user's ":wave:" or screenshot got silence."""
    h = start_bot()
    _, wave = h.slack.message(":wave:", channel="D2", channel_type="im")
    _, upload = h.slack.message("", channel="D3", channel_type="im", subtype="file_share", files=[{"id": "F1", "name": "error.png"}])
    h.settle()
    assert len(h.api.find("chat.postMessage", channel="D2", thread_ts=wave["ts"])) == 1
    assert len(h.api.find("chat.postMessage", channel="D3", thread_ts=upload["ts"])) == 1


def test_off_topic_question_gets_a_fallback_with_ask_a_human_and_is_escalated(start_bot):
    h = start_bot()
    _, event = h.slack.mention("What's the capital of France?")
    h.settle()
    [reply] = h.replies("C1", event["ts"])
    assert "couldn't find this" in _texts(reply) and _buttons(reply) == ["ragbot_ask_human"]
    assert "asked a human" in _texts(reply)
    [post] = h.api.wait_for("chat.postMessage", channel="CESC")
    assert "capital of France" in _texts(post) and "No draft answer" in _texts(post)


def test_a_crash_ends_in_a_polite_message_with_the_request_id(start_bot):
    class Exploding:
        def run(self, question, request, *, settings=None):
            raise MemoryError("store down")

    h = start_bot(pipeline=Exploding())
    _, event = h.slack.mention("vpn?")
    h.settle()
    [reply] = h.replies("C1", event["ts"])
    assert "something went wrong" in reply.args["text"] and "request `" in reply.args["text"]


def test_a_stage_failure_inside_the_pipeline_is_a_visible_reply(start_bot):
    h = start_bot()
    _, event = h.slack.mention("vpn crash")  # the generator raises
    h.settle()
    [reply] = h.replies("C1", event["ts"])
    assert "something went wrong" in _texts(reply)
    [record] = h.state.questions.list()
    assert record.outcome == "fallback" and record.escalated


def test_acks_come_back_fast_while_the_pipeline_is_slow(start_bot):
    class Slow:
        def __init__(self, inner):
            self.inner = inner

        def run(self, question, request, *, settings=None):
            time.sleep(0.5)
            return self.inner.run(question, request, settings=settings)

    from slack_fakes import simple_pipeline

    h = start_bot()
    h.bot.worker.pipeline = Slow(simple_pipeline(h.settings)[0])
    started = time.perf_counter()
    responses = [h.slack.mention(f"vpn {i}")[0] for i in range(3)]
    assert all(r.status == 200 for r in responses)
    assert time.perf_counter() - started < 0.5  # acked before any answer was ready
    h.settle()
    assert len(h.api.find("chat.postMessage", channel="C1")) == 3


def test_records_are_stored_before_delivery_and_a_failed_reply_is_retried(start_bot):
    h = start_bot()
    h.api.fail("chat.postMessage", times=1, when=lambda a: a.get("channel") == "C1")
    _, event = h.slack.mention("vpn?")
    h.settle()
    [record] = h.state.questions.list()
    assert record.delivery_status == "pending" and not h.replies("C1", event["ts"])
    from datetime import timedelta

    from bot.state.models import utcnow

    assert h.bot.deliverer.flush(now=utcnow() + timedelta(minutes=10)) >= 1
    assert len(h.replies("C1", event["ts"])) == 1
    assert h.state.questions.get(record.request_id).delivery_status == "sent"
    assert isinstance(record, QuestionRecord)


def test_a_very_long_answer_arrives_as_several_messages_in_order(start_bot):
    from bot.answer import Answer, Outcome

    class Verbose:
        def run(self, question, request, *, settings=None):
            text = "\n\n".join(f"Step {i}: " + "configure the client carefully. " * 30 for i in range(200))
            return Answer(text=text, outcome=Outcome.ANSWERED, confidence=0.9, request_id=request.request_id, question=question)

    h = start_bot(pipeline=Verbose())
    _, event = h.slack.mention("how do I configure everything?")
    h.settle()
    replies = h.replies("C1", event["ts"])
    assert len(replies) >= 2 and all(len(r.args["blocks"]) <= 50 for r in replies)
    sections = [b["text"]["text"] for r in replies for b in r.args["blocks"] if b["type"] == "section"]
    assert all(len(s) <= 3000 for s in sections)
    steps = [int(m) for s in sections for m in re.findall(r"Step (\d+):", s)]
    assert steps == list(range(200))
    assert replies[-1].args["blocks"][-1]["type"] == "actions"


def test_parts_of_a_long_answer_stay_in_order_when_the_first_part_fails(start_bot):
    from datetime import timedelta

    from bot.answer import Answer, Outcome
    from bot.state.models import utcnow

    class Verbose:
        def run(self, question, request, *, settings=None):
            text = "\n\n".join(f"Part {i}: " + "x " * 1400 for i in range(60))
            return Answer(text=text, outcome=Outcome.ANSWERED, confidence=0.9, request_id=request.request_id, question=question)

    h = start_bot(pipeline=Verbose())
    h.api.fail("chat.postMessage", times=1)
    _, event = h.slack.mention("everything?")
    h.settle()
    assert not h.replies("C1", event["ts"])  # part 2 waits for part 1
    h.bot.deliverer.flush(now=utcnow() + timedelta(minutes=5))
    replies = h.replies("C1", event["ts"])
    firsts = [re.search(r"Part (\d+):", json.dumps(r.args["blocks"])).group(1) for r in replies]
    assert len(replies) == 2 and firsts == ["0", sorted(firsts, key=int)[1]] and int(firsts[1]) > 0


def test_a_reply_whose_blocks_slack_refuses_is_sent_as_plain_text(start_bot):
    """invalid_blocks was retried unchanged 12 times, then the answer was dropped."""
    h = start_bot()
    h.api.fail("chat.postMessage", times=1, status=200, error="invalid_blocks", when=lambda a: a.get("channel") == "C1")
    _, event = h.slack.mention("vpn?")
    h.settle()
    h.bot.deliverer.flush()
    [reply] = h.replies("C1", event["ts"])
    assert "blocks" not in reply.args and "GlobalProtect" in reply.args["text"]
    assert h.state.questions.list()[0].delivery_status == "sent"


def test_a_reply_slack_will_never_take_is_given_up_at_once_and_logged(start_bot, caplog):
    from datetime import timedelta

    from bot.state.models import utcnow

    h = start_bot()
    h.api.fail("chat.postMessage", times=5, status=200, error="not_in_channel", when=lambda a: a.get("channel") == "C1")
    h.slack.mention("vpn?")
    h.settle()
    assert h.bot.deliverer.flush(now=utcnow() + timedelta(hours=1)) == 0
    assert len(h.api.find("chat.postMessage!failed")) == 1  # not retried for a day
    [row] = h.state.outbox.all()
    assert row.status == "dead" and "not_in_channel" in row.last_error
    assert h.state.questions.list()[0].delivery_status == "failed"
    assert any(r.levelname == "ERROR" and "not_in_channel" in r.getMessage() for r in caplog.records)
