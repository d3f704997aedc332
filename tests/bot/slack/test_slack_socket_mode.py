"""Socket Mode: the same app over a WebSocket (Bolt's SocketModeHandler and slack_sdk's builtin
client) against a local Socket Mode server; events are acked, answered once, commands reply."""

from __future__ import annotations

import json

import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from socket_fakes import FakeSocketModeServer

from bot.slack import SlackBot
from bot.state import open_state
from slack_fakes import BOT_USER, TEAM, simple_pipeline


@pytest.fixture
def socket_bot(make_settings, fake_api):
    server = FakeSocketModeServer()
    fake_api.socket_url = server.url
    settings = make_settings(slack_api_url=fake_api.url, admin_users="UADMIN", escalation_channel="CESC", min_relevance=0.3, outbox_retry_interval_s=3600)
    state = open_state(settings.effective_database_url)
    bot = SlackBot(settings, simple_pipeline(settings)[0], state, client=WebClient(token="xoxb-test", base_url=fake_api.url)).start_background()
    handler = SocketModeHandler(bot.app, "xapp-test", ping_interval=30)
    handler.connect()
    server.wait_connected()
    yield server, bot
    handler.close()
    bot.close()
    state.close()
    server.close()


def test_socket_mode_event_is_acked_answered_once_and_commands_reply(socket_bot, fake_api):
    server, bot = socket_bot
    event = {"type": "app_mention", "user": "UASKER", "text": f"<@{BOT_USER}> how do I use the vpn?", "channel": "C1", "ts": "1600000100.000001"}
    payload = {"type": "event_callback", "team_id": TEAM, "event_id": "EvSock1", "event": event, "event_time": 1}
    first = server.push("events_api", payload)
    server.ack_for(first)
    retry = server.push("events_api", payload, retry_attempt=1)
    server.ack_for(retry)
    assert bot.drain(20)
    [reply] = fake_api.find("chat.postMessage", channel="C1", thread_ts=event["ts"])
    assert "GlobalProtect" in json.dumps(reply.args["blocks"])
    assert fake_api.find("apps.connections.open")

    command = {"command": "/ragbot", "text": "help", "user_id": "UANY", "channel_id": "C1", "team_id": TEAM, "trigger_id": "t"}
    ack = server.ack_for(server.push("slash_commands", command))
    assert "/ragbot set KEY VALUE" in json.dumps(ack.get("payload", {}))
