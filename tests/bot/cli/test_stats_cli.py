"""`ragbot stats` prints the `/ragbot stats` figures and draws outcomes and latency over time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from bot.cli.stats import bucket_width, parse_window

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGBOT_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def _seed(data_dir):
    from bot.state import QuestionRecord, open_state
    from bot.state.models import utcnow

    state = open_state(f"sqlite:///{data_dir / 'ragbot.db'}")
    now = utcnow()
    rows = [  # (hours ago, outcome, latency ms, escalated)
        (1, "answered", 800.0, False), (2, "answered", 1200.0, False), (3, "fallback", 300.0, True),
        (5, "blocked", 10.0, False), (30, "answered", 5000.0, False),  # the last one is outside 24 h
    ]
    for n, (hours, outcome, latency, escalated) in enumerate(rows):
        record = QuestionRecord(request_id=f"r{n}", outcome=outcome, latency_ms=latency, escalated=escalated, question="q")
        record.created_at = now - timedelta(hours=hours)
        with state.db.transaction() as session:
            session.add(record)
    state.close()


def test_summary_matches_the_slack_figures_and_the_window_applies(data_dir):
    _seed(data_dir)
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 0, result.output
    assert "Questions: 4 · answered 2 · fallback 1 · blocked 1 · escalated 1" in result.output
    assert "Latency: p50 0.30 s · p95 1.20 s" in result.output and "no feedback yet" in result.output
    wide = runner.invoke(app, ["stats", "--since", "2d"])
    assert "Questions: 5 · answered 3" in wide.output and "p95 5.00 s" in wide.output


def test_plot_draws_a_png(data_dir, tmp_path):
    _seed(data_dir)
    target = tmp_path / "stats.png"
    result = runner.invoke(app, ["stats", "--since", "2d", "--plot", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 10_000
    assert "(5 time buckets with questions)" in result.output


def test_bad_input_is_one_line_and_no_database_is_explained(data_dir, tmp_path):
    for args, expected in (
        (["stats", "--since", "yesterday"], "not a duration"),
        (["stats", "--since", "99999999999d"], "longer than ten years"),
        (["stats", "--since", "800000d"], "longer than ten years"),
        (["stats", "--plot", str(tmp_path / "x.jpg")], "must be a .png"),
        (["stats"], "no questions recorded yet"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and expected in result.output and "Traceback" not in result.output


def test_windows_and_buckets():
    assert parse_window("24h") == timedelta(hours=24) and parse_window("7d") == timedelta(days=7)
    assert bucket_width(timedelta(hours=1)) == timedelta(minutes=5) and bucket_width(timedelta(days=30)) == timedelta(days=1)


def test_a_database_from_an_older_schema_is_one_line(data_dir):
    import sqlite3

    data_dir.mkdir(parents=True)
    with sqlite3.connect(data_dir / "ragbot.db") as db:
        db.execute("create table questions (request_id varchar primary key, created_at datetime)")
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 2 and "cannot read the bot's database (OperationalError)" in result.output
    assert "SELECT" not in result.output and len(result.output.strip().splitlines()) <= 2
