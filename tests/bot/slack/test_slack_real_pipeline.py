"""The Slack app with the REAL pipeline (MiniLM + LanceDB + SmolLM2 + guardrails) on the
sample handbook: a cited answer in the thread, a fallback escalated, PII never stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HANDBOOK = Path(__file__).resolve().parents[3] / "examples" / "handbook"


def _shown(call) -> str:
    return json.dumps(call.args.get("blocks", [])) + call.args.get("text", "")


@pytest.fixture
def real_bot(start_bot, tmp_path, converted_cache):
    from bot.factory import build_pipeline
    from bot.observability.health import Readiness, warm_up
    from bot.settings import load_settings
    from guardrails.pii import redact
    from retrieval.factory import build_ingestor

    data = tmp_path / "real"
    data.mkdir()
    (data / "models").symlink_to(converted_cache, target_is_directory=True)
    settings = load_settings(data_dir=data, device="cpu")
    build_ingestor(settings).ingest([HANDBOOK])
    pipeline = build_pipeline(settings)
    # as `ragbot serve` does: models load one at a time before traffic (two threads loading
    # models at the same moment were seen to fail with "Cannot copy out of meta tensor")
    assert warm_up(pipeline, Readiness())
    return start_bot(pipeline=pipeline, bot_kwargs={"redactor": redact}, data_dir=data, device="cpu",
                     escalation_threshold=settings.escalation_threshold, min_relevance=settings.min_relevance)


def test_real_pipeline_answers_in_thread_with_sources_and_escalates_an_off_topic_question(real_bot):
    h = real_bot
    _, asked = h.slack.mention("How many days of annual leave do full-time employees get?")
    _, off_topic = h.slack.mention("What is the capital of Australia?")
    _, personal = h.slack.mention("I'm jane.doe@example.com, call me on 212-555-0199: how do I request annual leave?")
    h.settle(timeout=300)
    [reply] = h.replies("C1", asked["ts"])
    shown = _shown(reply)
    assert "28" in shown and "leave.md" in shown and "Confidence:" in shown and "ragbot_helpful" in shown
    [fallback] = h.replies("C1", off_topic["ts"])
    assert "ragbot_ask_human" in _shown(fallback) and "ragbot_helpful" not in _shown(fallback)
    posts = h.api.find("chat.postMessage", channel="CESC")
    assert any("What is the capital of" in _shown(p) and "No draft answer" in _shown(p) for p in posts)  # stored redacted: [LOCATION]
    assert len(posts) == len(h.state.escalations.open())  # one post per escalation, nothing lost
    assert len(h.replies("C1", personal["ts"])) == 1
    records = {r.question.split()[0]: r for r in h.state.questions.list()}
    assert records["How"].outcome == "answered" and records["What"].outcome == "fallback" and records["What"].escalated
    stored = " ".join(r.question for r in records.values())
    assert "jane.doe@example.com" not in stored and "212-555-0199" not in stored and "annual leave" in stored
    assert all(r.latency_ms > 0 and r.delivery_status == "sent" for r in records.values())
