"""A running ragbot Slack app on 127.0.0.1 against a fake Web API, per test."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.slack import HttpServer, SlackBot, build_wsgi_app
from bot.state import StateStore, open_state
sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: make the helpers importable

from slack_fakes import SECRET, FakeSlackApi, SlackClientSim, TopicGenerator, simple_pipeline


@dataclass
class Harness:
    api: FakeSlackApi
    bot: SlackBot
    server: HttpServer
    slack: SlackClientSim
    state: StateStore
    generator: TopicGenerator | None
    settings: Any

    def settle(self, timeout: float = 20) -> None:
        assert self.bot.drain(timeout), "questions still queued or posts unsent"

    def replies(self, channel: str, thread_ts: str) -> list:
        return self.api.find("chat.postMessage", channel=channel, thread_ts=thread_ts)


@pytest.fixture
def fake_api():
    api = FakeSlackApi()
    yield api
    api.close()


@pytest.fixture
def start_bot(make_settings, fake_api):
    started: list[Harness] = []

    def start(pipeline=None, bot_kwargs: dict | None = None, **settings_values) -> Harness:
        values = {"slack_api_url": fake_api.url, "admin_users": "UADMIN", "escalation_channel": "CESC", "escalation_threshold": 0.5,
                  "min_relevance": 0.3, "outbox_retry_interval_s": 3600}
        values.update(settings_values)
        settings = make_settings(**values)
        generator = None
        if pipeline is None:
            pipeline, generator = simple_pipeline(settings)
        state = open_state(settings.effective_database_url)
        client = WebClient(token="xoxb-test", base_url=settings.slack_api_url)
        bot = SlackBot(settings, pipeline, state, signing_secret=SECRET, client=client, **(bot_kwargs or {})).start_background()
        server = HttpServer(build_wsgi_app(bot.app), "127.0.0.1", 0).start()
        harness = Harness(fake_api, bot, server, SlackClientSim(server.url), state, generator, settings)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        harness.server.stop()
        harness.bot.close(wait=True)
        harness.state.close()
