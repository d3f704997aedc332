from __future__ import annotations

import copy
from pathlib import Path

import pytest

from retrieval.relevance import CALIBRATION_FILE, CalibratedRelevance, Calibration, coverage, features, load_calibration
from retrieval.types import Chunk, Hit


def _hit(text: str, cosine: float, bm25: float | None = None, rerank: float | None = None, title: str = "Leave") -> Hit:
    chunk = Chunk(chunk_id="c", doc_id="d", title=title, location="l", text=text, parent_id="p", parent_text=text)
    return Hit(chunk=chunk, score=1.0, cosine=cosine, bm25=bm25, rerank=rerank)


def test_coverage_counts_content_words_with_light_stemming() -> None:
    hit = _hit("Employees get 27 days of paid annual leave.", 0.5)
    assert coverage("How many days of annual leave do employees get?", hit) == pytest.approx(1.0)
    assert coverage("Who designed the Eiffel tower?", hit) == 0.0


def test_relevance_is_a_probability_that_rises_with_the_evidence() -> None:
    scorer = CalibratedRelevance()
    question = "How many days of annual leave do employees get?"
    weak = scorer.relevance(question, [_hit("The espresso machine is descaled on Fridays.", 0.1)])
    strong = scorer.relevance(question, [_hit("Employees get 27 days of paid annual leave.", 0.7)])
    assert 0.0 <= weak < strong <= 1.0
    assert scorer.relevance(question, []) == 0.0


def test_relevance_ignores_store_specific_scores() -> None:
    """The same hits from LanceDB and Weaviate differ in raw BM25 and fused score, not in relevance."""
    scorer = CalibratedRelevance()
    hits = [_hit("Employees get 27 days of paid annual leave.", 0.55, bm25=7.3)]
    other_backend = copy.deepcopy(hits)
    other_backend[0].bm25, other_backend[0].score = 0.91, 0.42
    question = "How much annual leave?"
    assert scorer.relevance(question, hits) == scorer.relevance(question, other_backend)


def test_reranker_score_switches_to_the_rerank_model() -> None:
    calibration = {"hybrid": Calibration(0.0, {"cosine": 1.0}), "rerank": Calibration(-5.0, {"rerank": 10.0})}
    scorer = CalibratedRelevance(calibration)
    assert scorer.relevance("q", [_hit("x", 0.0, rerank=0.9)]) == pytest.approx(1 / (1 + pow(2.718281828, -4.0)), rel=1e-4)
    assert features("q", [_hit("x", 0.2, rerank=0.1), _hit("y", 0.6, rerank=0.8)])["rerank"] == 0.8


def test_shipped_calibration_is_sane() -> None:
    models = load_calibration(CALIBRATION_FILE)
    assert "hybrid" in models
    assert models["hybrid"].weights["cosine"] > 0 and models["hybrid"].weights["coverage"] > 0


@pytest.mark.slow
def test_calibrated_gate_passes_kb_questions_and_stops_off_topic_ones(make_settings, corpus: Path) -> None:
    from retrieval.factory import build_ingestor, build_relevance_scorer, build_retriever

    settings = make_settings()
    build_ingestor(settings).ingest([corpus])
    retriever, scorer = build_retriever(settings), build_relevance_scorer(settings)

    def relevance(question: str) -> float:
        return scorer.relevance(question, retriever.search(question, k=settings.candidates, alpha=settings.alpha))

    for question in ("How many days of paid annual leave do employees get?", "What should I do when the WireGuard tunnel drops?"):
        assert relevance(question) >= settings.min_relevance, question
    for question in ("Who won the 1998 football world cup?", "What is the boiling point of mercury?"):
        assert relevance(question) < settings.min_relevance, question


def test_the_gate_computes_only_what_it_uses_and_the_calibration_script_gets_the_rest() -> None:
    from retrieval.relevance import candidate_features

    hits = [_hit("Leave: 27 days of annual leave", 0.7), _hit("VPN tokens", 0.3)]
    assert set(features("How many days of annual leave?", hits)) == {"cosine", "coverage"}
    every = candidate_features("How many days of annual leave?", hits)
    assert set(every) == {"cosine", "coverage", "specific", "weighted", "cosine_gap"}
    assert every["cosine_gap"] == pytest.approx(0.4)
