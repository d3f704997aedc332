"""The likelihood rerank stage: per-question settings, re-numbered passages, failures that cost nothing."""

from __future__ import annotations

from bot.answer import Outcome
from bot.pipeline import Pipeline
from bot.stages import InputGuardStage, LikelihoodRerankStage, RetrieveStage
from retrieval.types import Chunk, Hit


def _hit(parent: str, score: float) -> Hit:
    chunk = Chunk(chunk_id=f"{parent}-0", doc_id=parent, title=parent.title(), location=f"{parent}.md", text=parent,
                  parent_id=parent, parent_text=f"all about {parent}")
    return Hit(chunk=chunk, score=score, cosine=0.8)


class Retriever:
    def search(self, query, *, k, alpha):
        return [_hit("canals", 1.0), _hit("bees", 0.9)]


class Reverse:
    """Stands in for the language model: puts the last scored parent first."""

    def __init__(self) -> None:
        self.calls = []

    def rerank(self, query, hits, depth, weight):
        self.calls.append((query, depth, weight))
        for hit in hits:
            hit.likelihood = -1.0
        return list(reversed(hits))


def _run(make_settings, reranker, **overrides):
    pipeline = Pipeline([InputGuardStage([]), RetrieveStage(Retriever()), LikelihoodRerankStage(lambda: reranker)], make_settings(top_k=1))
    return pipeline.run("How do bees talk?", overrides=overrides)


def test_off_by_default_and_the_model_is_never_loaded(make_settings):
    def no_model():
        raise AssertionError("must not load")

    pipeline = Pipeline([InputGuardStage([]), RetrieveStage(Retriever()), LikelihoodRerankStage(no_model)], make_settings())
    answer = pipeline.run("How do bees talk?")
    assert answer.sources[0].doc_id == "canals"
    assert answer.trace[-1].stage == "rerank" and answer.trace[-1].details["rerank"] == "off"


def test_settings_per_question_reorder_hits_and_renumber_passages(make_settings):
    reranker = Reverse()
    answer = _run(make_settings, reranker, likelihood_rerank_depth=4, likelihood_rerank_weight=0.25)
    assert reranker.calls == [("How do bees talk?", 4, 0.25)]
    assert [s.doc_id for s in answer.sources] == ["bees"] and answer.sources[0].n == 1
    assert answer.trace[-1].details["rerank"] == "reordered" and answer.trace[-1].details["top_likelihood"] == -1.0


def test_a_failing_model_keeps_the_hybrid_order_and_says_so(make_settings, caplog):
    class Broken:
        def rerank(self, *args):
            raise OSError("model directory unreadable")

    answer = _run(make_settings, Broken(), likelihood_rerank_depth=3)
    assert answer.outcome is Outcome.ANSWERED and answer.sources[0].doc_id == "canals"
    assert answer.trace[-1].details["rerank"] == "failed" and "unreadable" in answer.trace[-1].details["error"]
    assert "likelihood reranking failed" in caplog.text
