"""`ragbot serve --http` as a real process: it listens on 127.0.0.1, verifies signatures and
answers `/ragbot help`; missing tokens are one-line errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from slack_fakes import SECRET, SlackClientSim

RAGBOT = [sys.executable, "-c", "from bot.cli.main import run; run()"]


def _env(tmp_path: Path, api_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAGBOT_", "SLACK_"))}
    env.update({"RAGBOT_DATA_DIR": str(tmp_path / "data"), "RAGBOT_SLACK_API_URL": api_url, "RAGBOT_CONFIG": os.environ["RAGBOT_CONFIG"]})
    env.update(extra)
    return env


def test_missing_tokens_are_one_line_errors(monkeypatch):
    from typer.testing import CliRunner

    from bot.cli.main import app

    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    for args, env, needed in (
        (["serve"], {}, "SLACK_BOT_TOKEN"),
        (["serve"], {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN"),
        (["serve", "--http"], {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        (["serve"], {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"}, "must be the app-level token (xapp-"),
    ):
        result = runner.invoke(app, args, env=env)
        output = result.output + (result.stderr if hasattr(result, "stderr") else "")
        assert result.exit_code == 2 and needed in output and "Traceback" not in output


@pytest.mark.slow
def test_serve_http_answers_signed_requests_on_localhost(tmp_path, fake_api):
    env = _env(tmp_path, fake_api.url, SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET=SECRET)
    process = subprocess.Popen([*RAGBOT, "serve", "--http", "--port", "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            match = re.search(r"(http://127\.0\.0\.1:\d+)/slack/events", line)
            url = match.group(1) if match else None
        assert url, "ragbot serve --http did not start"
        slack = SlackClientSim(url)
        assert "/ragbot set KEY VALUE" in slack.command("help").body
        assert slack.post("{}", "application/json", signed=False).status == 401
        assert fake_api.find("auth.test")
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert process.returncode in (0, -15, 130)


@pytest.mark.slow
def test_a_rejected_app_token_is_one_line_not_connected_and_a_traceback(tmp_path, fake_api):
    env = _env(tmp_path, fake_api.url, SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-revoked")  # the fake refuses it
    result = subprocess.run([*RAGBOT, "serve"], env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Slack refused SLACK_APP_TOKEN (invalid_auth)" in output
    assert "connected" not in output and "Traceback" not in output
