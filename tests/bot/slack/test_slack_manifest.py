"""The shipped manifest grants what the app uses: its events, command, interactivity, scopes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.slack.app import SLASH_COMMAND
from bot.slack.server import EVENTS_PATH

yaml = pytest.importorskip("yaml")
MANIFEST = Path(__file__).resolve().parents[3] / "manifest.yml"

# Web API methods the bot calls, and the bot scope each needs
NEEDED_SCOPES = {"chat.postMessage": "chat:write", "chat.update": "chat:write", "chat.postEphemeral": "chat:write",
                 "reactions.add": "reactions:write", "users.info": "users:read"}


def test_manifest_matches_the_app():
    manifest = yaml.safe_load(MANIFEST.read_text())
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert set(NEEDED_SCOPES.values()) | {"app_mentions:read", "im:history", "channels:history", "groups:history", "mpim:history", "commands"} <= scopes
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    # every kind of conversation ragbot can be in: channels, private channels, DMs, group DMs
    assert {"app_mention", "message.im", "message.channels", "message.groups", "message.mpim"} <= events
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == SLASH_COMMAND and command["should_escape"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    urls = [command["url"], manifest["settings"]["event_subscriptions"]["request_url"], manifest["settings"]["interactivity"]["request_url"]]
    assert all(url.endswith(EVENTS_PATH) for url in urls)
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
