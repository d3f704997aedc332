from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError, load_settings


def test_defaults_are_valid(make_settings):
    settings = make_settings()
    assert settings.store == "lancedb"
    assert 0.0 <= settings.min_relevance <= 1.0
    assert settings.store_dir == settings.data_dir / "store"


def test_env_variables_are_read(monkeypatch):
    monkeypatch.setenv("RAGBOT_TOP_K", "7")
    monkeypatch.setenv("RAGBOT_ADMIN_USERS", "U1, U2")
    settings = load_settings()
    assert settings.top_k == 7
    assert settings.admin_users == ["U1", "U2"]


def test_admin_users_may_be_a_json_list(monkeypatch):
    monkeypatch.setenv("RAGBOT_ADMIN_USERS", '["U1", "U2"]')
    assert load_settings().admin_users == ["U1", "U2"]
    monkeypatch.setenv("RAGBOT_ADMIN_USERS", '["U1", ')
    with pytest.raises(SettingsError, match="admin_users.*not a JSON list"):
        load_settings()


def test_a_mapping_setting_that_is_not_json_is_one_line_naming_it(monkeypatch):
    monkeypatch.setenv("RAGBOT_SOURCE_LINKS", "notjson")  # was pydantic-settings' traceback from every command
    with pytest.raises(SettingsError, match="setting 'source_links': RAGBOT_SOURCE_LINKS is not valid JSON"):
        load_settings()


def test_an_empty_data_dir_is_an_error_not_the_working_directory(monkeypatch):
    monkeypatch.setenv("RAGBOT_DATA_DIR", "")
    with pytest.raises(SettingsError, match="setting 'data_dir': is empty"):
        load_settings()


def test_a_secret_of_the_wrong_type_is_not_printed(tmp_path, monkeypatch):
    config = tmp_path / "ragbot.toml"
    config.write_text('openai_api_key = ["sk-live-abc123"]\nlog_salt = 918273645\n')
    monkeypatch.setenv("RAGBOT_CONFIG", str(config))
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "openai_api_key" in str(raised.value) and "sk-live" not in str(raised.value) and "918273645" not in str(raised.value)


def test_mistyped_env_variable_is_an_error_with_a_suggestion(monkeypatch):
    monkeypatch.setenv("RAGBOT_MIN_RELEVANSE", "0.9")
    with pytest.raises(SettingsError, match="RAGBOT_MIN_RELEVANSE; did you mean RAGBOT_MIN_RELEVANCE"):
        load_settings()


@pytest.mark.parametrize(("content", "message"), [(b"alpha = \n", "line 1, column 9"), (b"top_k = 2 # caf\xe9\n", "can't decode")])
def test_unparsable_config_file_is_a_clear_error(tmp_path, monkeypatch, content, message):
    config = tmp_path / "ragbot.toml"
    config.write_bytes(content)
    monkeypatch.setenv("RAGBOT_CONFIG", str(config))
    with pytest.raises(SettingsError, match=f"settings file {config}: .*{message}"):
        load_settings()


def test_bad_env_value_names_the_setting(monkeypatch):
    monkeypatch.setenv("RAGBOT_ALPHA", "1.5")
    with pytest.raises(SettingsError, match="alpha"):
        load_settings()


def test_toml_file_is_read_and_env_wins(tmp_path: Path, monkeypatch):
    config = tmp_path / "ragbot.toml"
    config.write_text('min_relevance = 0.61\ntop_k = 3\n')
    monkeypatch.setenv("RAGBOT_CONFIG", str(config))
    monkeypatch.setenv("RAGBOT_TOP_K", "5")
    settings = load_settings()
    assert settings.min_relevance == pytest.approx(0.61)
    assert settings.top_k == 5


def test_missing_config_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("RAGBOT_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match="not a file"):
        load_settings()


def test_unknown_key_in_file_is_rejected(tmp_path, monkeypatch):
    config = tmp_path / "ragbot.toml"
    config.write_text("min_relevence = 0.5\n")
    monkeypatch.setenv("RAGBOT_CONFIG", str(config))
    with pytest.raises(SettingsError, match="unknown setting 'min_relevence'; did you mean 'min_relevance'"):
        load_settings()


def test_overrides_validate_strings_and_ranges(make_settings):
    settings = make_settings()
    changed = settings.with_overrides({"min_relevance": "0.7", "mention_only": "false"})
    assert changed.min_relevance == pytest.approx(0.7)
    assert changed.mention_only is False
    assert settings.min_relevance != 0.7, "the base settings are not mutated"
    assert isinstance(changed, Settings)
    with pytest.raises(SettingsError, match="min_relevance"):
        settings.with_overrides({"min_relevance": "7"})
    with pytest.raises(SettingsError, match="unknown setting 'no_such_key'; `/ragbot config` in Slack lists them"):
        settings.with_overrides({"no_such_key": 1})
    with pytest.raises(SettingsError, match="did you mean 'top_k'"):
        settings.with_overrides({"topk": 1})


@pytest.mark.parametrize(
    "values, message",
    [({"min_question_chars": "50", "max_question_chars": "20"}, "min_question_chars 50 must be below max_question_chars 20"),
     ({"chunk_tokens": "32", "chunk_overlap_tokens": "40"}, "chunk_overlap_tokens 40 must be below chunk_tokens 32"),
     ({"top_k": "8", "candidates": "5"}, "top_k 8 is more than the 5 candidates"),
     ({"max_context_tokens": "256", "max_new_tokens": "200"}, "leaves under 80")],
)
def test_pairs_that_would_fail_every_question_are_refused(make_settings, values, message):
    with pytest.raises(SettingsError, match=message):
        make_settings().with_overrides(values)


def test_overrides_do_not_reread_the_environment(make_settings, monkeypatch):
    settings = make_settings(top_k=2)
    monkeypatch.setenv("RAGBOT_TOP_K", "9")
    assert settings.with_overrides({"alpha": 0.3}).top_k == 2


@pytest.mark.parametrize("name", ["embedding_model", "generator_model", "reranker_model"])
def test_model_directories_are_checked_at_start_up(monkeypatch, tmp_path, name):
    monkeypatch.setenv(f"RAGBOT_{name.upper()}", str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match=f"setting '{name}': no such model directory"):
        load_settings()
    monkeypatch.setenv(f"RAGBOT_{name.upper()}", str(tmp_path))
    with pytest.raises(SettingsError, match="not a Hugging Face model directory"):
        load_settings()
    (tmp_path / "config.json").write_text("{}")
    assert getattr(load_settings(), name) == tmp_path


def test_injection_detector_must_be_a_file(monkeypatch, tmp_path):
    monkeypatch.setenv("RAGBOT_INJECTION_DETECTOR", str(tmp_path / "missing.npz"))
    with pytest.raises(SettingsError, match="no such detector file"):
        load_settings()


def test_source_links_map_folders_to_urls(make_settings):
    settings = make_settings(source_links={"/srv/handbook/": "https://git.example.com/handbook/blob/main/", "/srv/handbook/hr": "https://hr.example.com"})
    assert settings.source_link("/srv/handbook/it/vpn guide.md") == "https://git.example.com/handbook/blob/main/it/vpn%20guide.md"
    assert settings.source_link("/srv/handbook/hr/leave.md") == "https://hr.example.com/leave.md"  # the longest folder wins
    assert settings.source_link("/srv/handbook-old/x.md") == "" and settings.source_link("/elsewhere/x.md") == ""


def test_source_links_must_be_web_urls(make_settings):
    with pytest.raises(SettingsError, match="not an http"):
        make_settings(source_links={"/srv/handbook": "file:///srv/handbook"})


@pytest.mark.parametrize("value", ["#it-escalations", "U024BE7LH", "it-help"])
def test_escalation_channel_must_be_a_channel_id(make_settings, value):
    """A name or a user id was accepted and failed at the first escalation."""
    with pytest.raises(SettingsError, match="not a channel id"):
        make_settings(escalation_channel=value)
    assert make_settings(escalation_channel="C024BE91L").escalation_channel == "C024BE91L"
