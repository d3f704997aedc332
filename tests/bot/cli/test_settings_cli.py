from __future__ import annotations

import json

from typer.testing import CliRunner

from bot.cli.main import app


def test_settings_shows_values_and_where_they_come_from(monkeypatch, tmp_path) -> None:
    config = tmp_path / "ragbot.toml"
    config.write_text("min_relevance = 0.6\n")
    monkeypatch.setenv("RAGBOT_CONFIG", str(config))
    monkeypatch.setenv("RAGBOT_TOP_K", "3")
    monkeypatch.setenv("RAGBOT_OPENAI_API_KEY", "sk-not-for-printing")
    monkeypatch.setenv("RAGBOT_DATABASE_URL", "postgresql://ragbot:s3cret@db/ragbot")
    result = CliRunner().invoke(app, ["settings", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)  # stderr: the database at db/ cannot be reached for Slack overrides
    assert "cannot read Slack overrides" in result.stderr
    assert shown["top_k"] == {"value": 3, "origin": "env"}
    assert shown["min_relevance"] == {"value": 0.6, "origin": "file"}
    assert shown["alpha"]["origin"] == "default"
    assert shown["openai_api_key"]["value"] == "(hidden)" and "sk-not" not in result.output
    assert shown["database_url"]["value"] == "postgresql://ragbot:***@db/ragbot" and "s3cret" not in result.output


def test_settings_table_names_the_file(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("RAGBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./ragbot.toml
    result = CliRunner().invoke(app, ["settings"])
    assert result.exit_code == 0 and "file: none" in result.output and "min_relevance" in result.output


def test_settings_shows_what_admins_set_in_slack(monkeypatch, tmp_path) -> None:
    from bot.state import GLOBAL, open_state

    monkeypatch.setenv("RAGBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RAGBOT_TOP_K", "3")
    state = open_state(f"sqlite:///{tmp_path / 'ragbot.db'}")
    state.overrides.set(GLOBAL, "min_relevance", "0.9", "UADMIN")
    state.overrides.set(GLOBAL, "top_k", "2", "UADMIN")  # the stored override wins over the start-up value, as in the bot
    state.overrides.set("C2", "mention_only", "false", "UADMIN")
    state.overrides.set(GLOBAL, "escalation_channel", "none", "UADMIN")  # stored as the word; the bot reads it as unset
    state.close()
    result = CliRunner().invoke(app, ["settings", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["min_relevance"] == {"value": 0.9, "origin": "slack"} and shown["top_k"] == {"value": 2, "origin": "slack"}
    assert shown["mention_only"] == {"value": True, "origin": "default", "channels": {"C2": "false"}}
    assert shown["escalation_channel"] == {"value": None, "origin": "slack"}
    table = CliRunner().invoke(app, ["settings"])
    assert "C2: false" in table.output and "/ragbot set" in table.output
