"""The shapes real Slack messages come in besides a plain question: thanks with a mention, an
app's post or a forwarded message as the question, edits, deletions, and events nobody asked for."""

from __future__ import annotations

import json
import time

from tests.bot.slack.slack_fakes import BOT_USER, TEAM, simple_pipeline


def _shaped(make_settings):
    """The simple pipeline with the real question-shape check (empty, greeting, too long)."""
    from bot.stages.guard import InputGuardStage
    from guardrails.normalize import QuestionShapeValidator

    pipeline, _ = simple_pipeline(make_settings(min_relevance=0.3))
    pipeline.stages[0] = InputGuardStage([QuestionShapeValidator()])
    return pipeline


def _now_ts(h) -> str:
    return f"{time.time():.0f}.{h.slack.next_ts().split('.')[1]}"


def _edit(message: dict, text: str) -> dict:
    """Slack's message_changed event for ``message`` edited to ``text``."""
    inner = {k: v for k, v in message.items() if k not in ("channel", "channel_type")}
    return {"type": "message", "subtype": "message_changed", "hidden": True, "channel": message["channel"], "channel_type": message["channel_type"],
            "ts": f"{time.time():.6f}", "previous_message": inner, "message": {**inner, "text": text, "edited": {"user": message["user"], "ts": "1.0"}}}


def _dm(h, text: str, ts: str | None = None, **extra) -> dict:
    event = {"type": "message", "user": "UASKER", "text": text, "channel": "D1", "channel_type": "im", "ts": ts or _now_ts(h), "team": TEAM, **extra}
    h.slack.event(event)
    return event


def _dm_replies(h) -> list[str]:
    return [call.args.get("text", "") for call in h.api.find("chat.postMessage", channel="D1")]


def test_thanks_with_a_mention_is_not_a_question(start_bot, make_settings):
    h = start_bot(pipeline=_shaped(make_settings))
    _, first = h.slack.mention("How do I set up the VPN?")
    h.settle()
    h.slack.mention("thanks!", thread_ts=first["ts"])
    _, top = h.slack.mention("thank you :pray:")
    h.settle()
    assert len(h.replies("C1", first["ts"])) == 1  # not the VPN answer once more
    assert not h.replies("C1", top["ts"]) and not h.api.find("chat.postMessage", channel="CESC")
    _, wave = h.slack.mention(":wave:")  # an emoji alone may open a conversation: the check's note
    h.settle()
    assert len(h.replies("C1", wave["ts"])) == 1


def test_pointing_at_another_apps_post_answers_its_question(start_bot):
    """Help channels take requests through Workflow Builder forms, which post as apps."""
    h = start_bot()
    form = {"type": "message", "subtype": "bot_message", "bot_id": "BWORKFLOW", "ts": "1600000600.000001", "channel": "C1",
            "text": "New IT request from <@UALICE>: How do I set up the VPN on my laptop?"}
    h.api.messages.append(dict(form))
    h.slack.mention("can you answer this?", user="UBOB", thread_ts=form["ts"])
    h.settle()
    [reply] = h.replies("C1", form["ts"])
    assert "GlobalProtect" in reply.args["text"]


def test_pointing_at_ragbots_own_post_answers_the_words_given(start_bot):
    h = start_bot()
    own = {"type": "message", "bot_id": "BBOT", "user": BOT_USER, "ts": "1600000601.000001", "channel": "C1", "text": "How do I set up the VPN?"}
    h.api.messages.append(dict(own))
    h.slack.mention("can you answer this?", thread_ts=own["ts"])
    h.settle()
    [reply] = h.replies("C1", own["ts"])
    assert "GlobalProtect" not in reply.args["text"]


def test_a_forwarded_question_is_answered(start_bot, make_settings):
    h = start_bot(pipeline=_shaped(make_settings))
    _dm(h, "", attachments=[{"is_share": True, "is_msg_unfurl": True, "author_id": "UALICE", "text": "How do I set up the VPN?"}])
    pointed = {"type": "app_mention", "user": "UASKER", "text": f"<@{BOT_USER}> can you answer this?", "channel": "C1", "ts": _now_ts(h),
               "attachments": [{"is_share": True, "text": "How do I set up the VPN?"}]}
    h.slack.event(pointed)
    h.settle()
    assert "GlobalProtect" in _dm_replies(h)[0]
    assert "GlobalProtect" in h.replies("C1", pointed["ts"])[0].args["text"]


def test_a_dm_refused_as_a_greeting_is_answered_once_edited_into_a_question(start_bot, make_settings):
    h = start_bot(pipeline=_shaped(make_settings))
    greeting = _dm(h, "hi")
    h.settle()
    h.slack.event(_edit(greeting, "how do I set up the vpn?"))
    h.settle()
    replies = _dm_replies(h)
    assert len(replies) == 2 and "GlobalProtect" in replies[1]
    h.slack.event(_edit(greeting, "how do I set up the vpn on linux?"))  # answered already: one answer per message
    h.settle()
    assert len(_dm_replies(h)) == 2


def test_link_previews_and_old_messages_edited_are_not_new_questions(start_bot, make_settings):
    h = start_bot(pipeline=_shaped(make_settings))
    greeting = _dm(h, "hi https://example.com")
    h.settle()
    unfurled = _edit(greeting, greeting["text"])  # Slack adds the preview: same words
    h.slack.event(unfurled)
    old = _dm(h, "hi", ts="1600000000.000777")  # a message of 2020, refused then, edited now
    h.settle()
    h.slack.event(_edit(old, "how do I set up the vpn?"))
    h.settle()
    assert len(_dm_replies(h)) == 2  # the two greeting notes, nothing more


def test_a_question_deleted_before_its_answer_is_neither_answered_nor_stored(start_bot):
    h = start_bot()
    h.api.delays["reactions.add"] = 1.0  # the worker is still starting when the deletion arrives
    _, question = h.slack.mention("How do I set up the VPN? my password is hunter2")
    h.slack.event({"type": "message", "subtype": "message_deleted", "hidden": True, "channel": "C1", "channel_type": "channel",
                   "ts": _now_ts(h), "deleted_ts": question["ts"],
                   "previous_message": {"type": "message", "user": "UASKER", "text": question["text"], "ts": question["ts"]}})
    h.settle()
    assert not h.replies("C1", question["ts"])
    assert h.state.questions.list() == []


def test_events_nobody_listens_to_and_slacks_rate_limit_notice_get_a_200(start_bot):
    """Slack turns an app's events off when too few deliveries succeed."""
    h = start_bot()
    notice = {"token": "x", "type": "app_rate_limited", "team_id": TEAM, "minute_rate_limited": 1518467820, "api_app_id": "A1"}
    assert h.slack.post(json.dumps(notice), "application/json").status == 200
    for event in ({"type": "app_home_opened", "user": "UASKER", "channel": "D1", "tab": "messages"},
                  {"type": "member_joined_channel", "user": "UASKER", "channel": "C1"}):
        response, _ = h.slack.event(event)
        assert response.status == 200
    assert not h.api.find("chat.postMessage")


def test_an_edit_of_a_message_never_refused_is_no_question(start_bot):
    """Edits go through the follow-up check, which asks who asks ragbot in the thread *now*: an
    old reply to a colleague, edited after its writer asked ragbot, was answered."""
    h = start_bot()
    top = {"type": "message", "user": "UALICE", "text": "anyone else on the new laptops?", "channel": "C1", "channel_type": "channel", "ts": _now_ts(h)}
    h.slack.event(top)
    reply = {**top, "text": "Bob, I tried the GlobalProtect thing, no luck", "ts": _now_ts(h), "thread_ts": top["ts"]}
    h.slack.event(reply)
    h.slack.mention("How do I set up the VPN?", user="UALICE", thread_ts=top["ts"])
    h.settle()
    assert len(h.replies("C1", top["ts"])) == 1
    h.slack.event(_edit(reply, reply["text"] + " :("))
    h.settle()
    assert len(h.replies("C1", top["ts"])) == 1


def test_a_pointed_at_question_deleted_meanwhile_is_neither_answered_nor_stored(start_bot):
    h = start_bot()
    h.api.delays["reactions.add"] = 1.0
    asked = {"type": "message", "user": "UALICE", "text": "How do I set up the VPN? my badge is 4411", "channel": "C1", "ts": _now_ts(h)}
    h.api.said(asked)
    h.slack.mention("can you answer this?", user="UBOB", thread_ts=asked["ts"])
    h.slack.event({"type": "message", "subtype": "message_deleted", "hidden": True, "channel": "C1", "channel_type": "channel",
                   "ts": _now_ts(h), "deleted_ts": asked["ts"]})
    h.settle()
    assert not h.replies("C1", asked["ts"]) and h.state.questions.list() == []


def test_a_question_with_replies_deleted_meanwhile_becomes_a_tombstone_and_is_dropped(start_bot):
    """Slack sends no message_deleted for a message with thread replies: it changes it into a tombstone."""
    h = start_bot()
    h.api.delays["reactions.add"] = 1.0
    _, question = h.slack.mention("How do I set up the VPN?")
    h.slack.event({"type": "message", "subtype": "message_changed", "hidden": True, "channel": "C1", "channel_type": "channel", "ts": _now_ts(h),
                   "message": {"type": "message", "subtype": "tombstone", "text": "This message was deleted.", "user": "USLACKBOT",
                               "hidden": True, "ts": question["ts"], "thread_ts": question["ts"], "reply_count": 1},
                   "previous_message": {"type": "message", "user": "UASKER", "text": question["text"], "ts": question["ts"]}})
    h.settle()
    assert not h.replies("C1", question["ts"]) and h.state.questions.list() == []


def test_a_channel_answering_without_mentions_leaves_chatter_and_unanswerable_questions_alone(start_bot):
    """An announcement there got "I couldn't find this" and an escalation to the humans."""
    h = start_bot(mention_only=False)
    _, chatter = h.slack.message("Hi all, the coffee machine on floor 2 is fixed :tada:")
    _, unknown = h.slack.message("what's the wifi password for the guest network?")
    _, asked = h.slack.message("How do I set up the VPN?")
    h.settle()
    assert not h.replies("C1", chatter["ts"]) and not h.replies("C1", unknown["ts"])
    assert "GlobalProtect" in h.replies("C1", asked["ts"])[0].args["text"]
    assert not h.api.find("chat.postMessage", channel="CESC")
    _, mentioned = h.slack.mention("what's the wifi password for the guest network?")  # asked of ragbot: told, and escalated
    h.settle()
    assert h.replies("C1", mentioned["ts"]) and h.api.find("chat.postMessage", channel="CESC")
