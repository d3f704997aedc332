"""`ragbot ask`: one-line errors for every bad start, and the documented JSON shape."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bot.cli.ask import terminal_text
from tests.conftest import HANDBOOK


def _ragbot(*args: str, env_extra: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGBOT_")}
    env.update({"RAGBOT_DATA_DIR": str(tmp_path / "data"), **env_extra})
    code = "from bot.cli.main import run; run()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)


def _one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert lines and lines[0].startswith("error:"), result.stderr
    for needle in needles:
        assert needle in result.stderr


def test_asking_before_anything_is_ingested(tmp_path):
    _one_line_error(_ragbot("ask", "How long is a VPN profile valid?", env_extra={}, tmp_path=tmp_path), "ragbot ingest")


def test_a_bad_setting_names_itself(tmp_path):
    _one_line_error(_ragbot("ask", "hello", env_extra={"RAGBOT_ALPHA": "1.5"}, tmp_path=tmp_path), "alpha")


def test_an_unknown_adapter_is_refused_at_start(tmp_path):
    _one_line_error(_ragbot("ask", "hello", env_extra={"RAGBOT_ADAPTER": "tpyo"}, tmp_path=tmp_path), "adapter", "unknown adapter 'tpyo'")


def test_no_question(tmp_path):
    _one_line_error(_ragbot("ask", env_extra={}, tmp_path=tmp_path), "no question")


def test_unreadable_questions_file(tmp_path):
    _one_line_error(_ragbot("ask", "--file", str(tmp_path / "missing.txt"), env_extra={}, tmp_path=tmp_path), "missing.txt")


def test_a_data_dir_that_is_a_file_is_not_an_empty_knowledge_base(tmp_path):
    (tmp_path / "notadir").write_text("x")
    result = _ragbot("ask", "How long is a VPN profile valid?", env_extra={"RAGBOT_DATA_DIR": str(tmp_path / "notadir")}, tmp_path=tmp_path)
    _one_line_error(result, "notadir is a file, not a folder")


def test_terminal_text_undoes_slack_escaping():
    assert terminal_text("R&amp;D &lt;b&gt; [1]") == "R&D <b> [1]"
    from bot.settings import FALLBACK_TEXT

    assert terminal_text(FALLBACK_TEXT).endswith("You can ask a human.")  # no button in a terminal


@pytest.mark.slow
def test_json_answer_has_the_documented_keys(tmp_path):
    ingest = _ragbot("ingest", str(HANDBOOK), env_extra={}, tmp_path=tmp_path)
    assert ingest.returncode == 0, ingest.stderr
    # an off-topic question: the gate answers it without loading the generator
    result = _ragbot("ask", "--json", "What is the capital of Australia?", env_extra={}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"text", "outcome", "confidence", "sources", "trace"} <= set(answer)
    assert answer["outcome"] == "fallback"
    assert [t["stage"] for t in answer["trace"]][:4] == ["input_guard", "retrieve", "rerank", "relevance_gate"]
    assert all("duration_ms" in t for t in answer["trace"])

    questions = tmp_path / "questions.txt"  # neither needs the generator: one is blocked, one gated
    questions.write_text("What is the capital of Australia? \x1b[2J\x1b[31mfake\n\U0001f600\U0001f600\n")
    result = _ragbot("ask", "--file", str(questions), env_extra={}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "Q: What is the capital of Australia? [2J[31mfake" in result.stdout
    assert "Please ask your question in words." in result.stdout

    # a value set in Slack (/ragbot set) is what the bot answers with, so `ask` uses it too
    from bot.state import open_state
    from bot.state.overrides import GLOBAL

    state = open_state(f"sqlite:///{tmp_path / 'data' / 'ragbot.db'}")
    state.overrides.set(GLOBAL, "min_relevance", "0.99", "UADMIN")
    state.close()
    result = _ragbot("ask", "--json", "What is the capital of Australia?", env_extra={}, tmp_path=tmp_path)
    gate = next(t for t in json.loads(result.stdout.strip().splitlines()[-1])["trace"] if t["stage"] == "relevance_gate")
    assert gate["details"]["min_relevance"] == 0.99 and "min_relevance=0.99" in result.stderr


def test_cli_log_lines_redact_the_personal_data_an_error_quotes(tmp_path):
    """A generator or database error can quote the question; stderr is often kept in a file."""
    import logging

    from bot.cli.common import cli_logging
    from bot.settings import load_settings

    handler = cli_logging(load_settings(data_dir=tmp_path / "data"))
    try:
        raise RuntimeError("generation failed for 'why was jane.doe@example.com refused?'")
    except RuntimeError:
        record = logging.LogRecord("bot.pipeline", logging.ERROR, __file__, 1, "stage generate failed", None, sys.exc_info())
    line = handler.format(record)
    assert "jane.doe@example.com" not in line
    assert "RuntimeError" in line and "[EMAIL_ADDRESS]" in line
