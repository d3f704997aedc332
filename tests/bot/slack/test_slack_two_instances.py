"""Two bot instances (own data_dir, as two pods) on one database, each with the salt
`ragbot serve` gives it: Slack may deliver any event to either, and nothing is lost or doubled."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from bot.observability.hashing import IdHasher
from bot.slack import HttpServer, SlackBot, build_wsgi_app
from bot.state import open_state
from tests.bot.slack.slack_fakes import BOT_USER, SECRET, FakeSlackApi, SlackClientSim, simple_pipeline


@pytest.fixture
def instances(make_settings, tmp_path, database_url):
    api, made = FakeSlackApi(), []

    def start(name):
        settings = make_settings(data_dir=tmp_path / name, database_url=database_url, slack_api_url=api.url,
                                 escalation_channel="CESC", min_relevance=0.3, outbox_retry_interval_s=3600)
        pipeline, _ = simple_pipeline(settings)
        state = open_state(database_url)
        bot = SlackBot(settings, pipeline, state, signing_secret=SECRET, client=WebClient(token="x", base_url=api.url),
                       hasher=IdHasher.from_settings(settings, state.db)).start_background()
        server = HttpServer(build_wsgi_app(bot.app), "127.0.0.1", 0).start()
        made.append((bot, server, state))
        return bot, SlackClientSim(server.url)

    yield api, start
    for bot, server, state in made:
        server.stop()
        bot.close(wait=True)
        state.close()
    api.close()


def test_a_follow_up_in_a_thread_one_instance_answered_is_answered_by_the_other(instances):
    api, start = instances
    (bot_a, slack_a), (bot_b, slack_b) = start("a"), start("b")
    _, first = slack_a.mention("How do I set up the VPN?")
    assert bot_a.drain(20)
    slack_b._ts, slack_b._ids = slack_a._ts, slack_a._ids  # one Slack: ts and event ids stay unique
    slack_b.message("and on my phone?", thread_ts=first["ts"])  # the load balancer sent it to B
    assert bot_b.drain(20)
    assert len(api.find("chat.postMessage", channel="C1", thread_ts=first["ts"])) == 2


def test_one_event_delivered_to_both_instances_and_an_edit_seen_by_the_other_are_answered_once(instances):
    api, start = instances
    (bot_a, slack_a), (bot_b, slack_b) = start("a"), start("b")
    event = {"type": "app_mention", "user": "UASKER", "text": f"<@{BOT_USER}> How do I set up the VPN?", "channel": "C1", "ts": "1600000100.000001", "team": "T1"}
    slack_a.event(event, event_id="EvSAME")
    slack_b.event(event, event_id="EvSAME", retry=1)
    assert bot_a.drain(20) and bot_b.drain(20)
    slack_b.event(dict(event, text=event["text"] + " (edited)"), event_id="EvEDIT")  # an edit: a new event id, the same ts
    assert bot_b.drain(20)
    assert len(api.find("chat.postMessage", channel="C1", thread_ts="1600000100.000001")) == 1
