"""`ragbot forget-user` and `ragbot prune` on the bot's database (SQLite under RAGBOT_DATA_DIR)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from bot.cli.main import app

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGBOT_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def _seed(data_dir, rows):
    """rows: (request id, Slack user, days ago), hashed the way `serve` hashes them."""
    from bot.observability.hashing import IdHasher
    from bot.settings import load_settings
    from bot.state import QuestionRecord, open_state
    from bot.state.models import utcnow

    data_dir.mkdir(parents=True, exist_ok=True)
    state = open_state(f"sqlite:///{data_dir / 'ragbot.db'}")
    hasher = IdHasher.from_settings(load_settings(), state.db)
    with state.db.transaction() as session:
        for request_id, user, days in rows:
            record = QuestionRecord(request_id=request_id, outcome="answered", question="q", user_hash=hasher(user))
            record.created_at = utcnow() - timedelta(days=days)
            session.add(record)
    return state


def test_forget_user_deletes_that_persons_records_matched_by_the_bots_salted_hash(data_dir):
    state = _seed(data_dir, [("a", "U0AAA", 1), ("b", "U0BBB", 1), ("c", "U0AAA", 2)])
    result = runner.invoke(app, ["forget-user", "U0AAA", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Deleted 2 question record(s)" in result.output
    assert [r.request_id for r in state.questions.list()] == ["b"]


def test_forget_user_asks_first_and_refuses_what_is_not_a_member_id(data_dir):
    state = _seed(data_dir, [("a", "U0AAA", 1)])
    declined = runner.invoke(app, ["forget-user", "U0AAA"], input="n\n")
    assert declined.exit_code == 1 and len(state.questions.list()) == 1
    bad = runner.invoke(app, ["forget-user", "alice@example.com", "--yes"])
    assert bad.exit_code == 2 and "not a Slack member id" in bad.output


def test_prune_keeps_the_retention_period(data_dir, monkeypatch):
    state = _seed(data_dir, [("old", "U0AAA", 400), ("mid", "U0AAA", 40), ("new", "U0AAA", 1)])
    assert runner.invoke(app, ["prune"]).exit_code == 0  # retention_days 365 by default
    assert {r.request_id for r in state.questions.list()} == {"mid", "new"}
    result = runner.invoke(app, ["prune", "--days", "30"])
    assert result.exit_code == 0 and "deleted 1 question record(s)" in result.output
    monkeypatch.setenv("RAGBOT_RETENTION_DAYS", "0")
    kept = runner.invoke(app, ["prune"])
    assert kept.exit_code == 2 and "keep everything" in kept.output


def test_prune_honours_an_admins_override_as_serve_does(data_dir):
    from bot.state import GLOBAL

    state = _seed(data_dir, [("old", "U0AAA", 400)])
    state.overrides.set(GLOBAL, "retention_days", "0", "UADMIN")  # e.g. a legal hold, set from Slack
    held = runner.invoke(app, ["prune"])
    assert held.exit_code == 2 and "keep everything" in held.output and len(state.questions.list()) == 1
