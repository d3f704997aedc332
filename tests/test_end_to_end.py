"""End to end on the sample handbook with the real models on CPU: embedder, LanceDB,
SmolLM2 (plus the shipped adapter when there is one) and Presidio."""

from __future__ import annotations

import re

import pytest

from bot.answer import Outcome
from bot.settings import load_settings
from bot.stages import GenerateStage
from tests.conftest import HANDBOOK

pytestmark = pytest.mark.slow

PLANTED = ("jane.doe@example.com", "212-555-0199", "4111 1111 1111 1111", "078-05-1120")


@pytest.fixture(scope="module")
def handbook_pipeline(tmp_path_factory, converted_cache):
    from bot.factory import build_pipeline
    from retrieval.factory import build_ingestor

    data = tmp_path_factory.mktemp("e2e")
    (data / "models").symlink_to(converted_cache, target_is_directory=True)
    settings = load_settings(data_dir=data, device="cpu")
    report = build_ingestor(settings).ingest([HANDBOOK])
    assert report.failed == [] if hasattr(report, "failed") else True
    return build_pipeline(settings)


def _cited(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\[(\d+)\]", text)}


def test_answers_with_a_citation_to_the_right_page(handbook_pipeline):
    answer = handbook_pipeline.run("How many days of annual leave do full-time employees get?")
    assert answer.outcome is Outcome.ANSWERED, answer.text
    assert "28" in answer.text
    cited = _cited(answer.text)
    assert cited, f"no [n] citation in {answer.text!r}"
    by_number = {s.n: s for s in answer.sources}
    assert cited <= set(by_number), "every citation points at a given source"
    assert any(by_number[n].location.endswith("leave.md") for n in cited)
    assert [t.stage for t in answer.trace][:4] == ["input_guard", "retrieve", "rerank", "relevance_gate"]


def test_off_topic_question_falls_back_without_generating(handbook_pipeline):
    answer = handbook_pipeline.run("What is the capital of Australia?")
    assert answer.outcome is Outcome.FALLBACK
    assert answer.escalate
    assert answer.stage("generate") is None


def test_pii_planted_in_a_generated_answer_is_redacted(handbook_pipeline):
    stage = next(s for s in handbook_pipeline.stages if isinstance(s, GenerateStage))
    real = stage.generator

    class Planting:
        """The real generator, with personal data appended to whatever it writes."""

        def generate(self, question, passages, **kwargs):
            generation = real.generate(question, passages, **kwargs)
            generation.text += (
                " Contact Jane Doe at jane.doe@example.com or 212-555-0199,"
                " card 4111 1111 1111 1111, SSN 078-05-1120."
            )
            return generation

    stage.generator = Planting()
    try:
        answer = handbook_pipeline.run("How long is a VPN profile valid?")
    finally:
        stage.generator = real
    for value in PLANTED:
        assert value not in answer.text
        assert value not in (answer.draft or "")
    verdicts = answer.stage("output_guard").details["verdicts"]
    # grounding runs first and drops the invented contact sentence; the PII check catches the rest
    assert verdicts["groundedness"]["passed"] is False or verdicts["output_pii"]["passed"] is False
