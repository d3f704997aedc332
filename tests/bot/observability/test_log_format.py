"""Operator log lines: an error is one line with its type, never a traceback or what a
database error quotes (the stored question); DEBUG keeps the traceback."""

import logging
import sys

import pytest
from sqlalchemy.exc import IntegrityError

from bot.observability.log_format import OneLineFormatter, install
from bot.state import QuestionRecord, open_state

FMT = "%(levelname)s %(name)s: %(message)s"


def _record(error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except type(error):
        return logging.getLogger("bot.pipeline").makeRecord("bot.pipeline", logging.ERROR, __file__, 1, "stage %s failed", ("retrieve",), sys.exc_info())


def test_an_error_is_one_line_with_its_type_and_first_line():
    record = _record(ConnectionError("store is down\nsecond line with details"))
    assert OneLineFormatter(FMT).format(record) == "ERROR bot.pipeline: stage retrieve failed: ConnectionError: store is down"
    assert "Traceback" in logging.Formatter().format(record)  # the record itself still carries it (DEBUG shows it)


def test_the_message_is_redacted_and_a_failing_redactor_leaves_only_the_type():
    record = _record(ValueError("no route for jane.doe@example.com"))
    assert OneLineFormatter(FMT, redactor=lambda t: t.replace("jane.doe@example.com", "[EMAIL_ADDRESS]")).format(record).endswith(
        "ValueError: no route for [EMAIL_ADDRESS]")

    def broken(text):
        raise RuntimeError("presidio down")

    assert OneLineFormatter(FMT, redactor=broken).format(record).endswith("stage retrieve failed: ValueError")


def test_a_database_error_does_not_quote_the_stored_question(tmp_path):
    state = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    record = dict(request_id="r1", question="my secret question", outcome="answered", answer_text="a draft")
    state.questions.record(QuestionRecord(**record), [])
    with pytest.raises(IntegrityError) as raised:
        state.questions.record(QuestionRecord(**record), [])
    state.close()
    assert "my secret question" not in str(raised.value) and "a draft" not in str(raised.value)


def test_debug_logging_leaves_out_library_lines_that_carry_message_bodies():
    """At DEBUG slack_sdk logged each request body (a human's answer as typed) and SQLAlchemy
    its result rows; ragbot's own DEBUG lines stay."""
    root, saved = logging.getLogger(), {name: logging.getLogger(name).level for name in ("slack_sdk", "slack_bolt", "sqlalchemy")}
    handlers, level = list(root.handlers), root.level
    try:
        for name in saved:
            logging.getLogger(name).setLevel(logging.NOTSET)
        root.handlers.clear()
        install("DEBUG", FMT)
        assert logging.getLogger("bot.pipeline").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("slack_sdk.web.base_client").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("slack_sdk.socket_mode.builtin.client").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("sqlalchemy.engine.Engine").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, old in saved.items():
            logging.getLogger(name).setLevel(old)

