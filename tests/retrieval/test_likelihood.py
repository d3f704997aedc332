"""Query-likelihood reranking with the real SmolLM2 base model; the reranker singletons load once."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.types import Chunk, Hit

CANALS = ("Canals", "The Grand Canal of China, begun in the 5th century BC, runs 1,776 km from Beijing to Hangzhou "
          "and is the longest artificial river in the world.")
BEES = ("Bees", "Honey bees communicate the direction and distance of flowers to their hive mates with a waggle "
        "dance performed on the comb.")
TEA = ("Tea", "Green tea is made from leaves that are steamed or pan-fired soon after picking, which stops oxidation.")


def _hit(parent: str, title: str, text: str, score: float, child: int = 0) -> Hit:
    chunk = Chunk(chunk_id=f"{parent}-{child}", doc_id=parent, title=title, location=parent, text=text[:60],
                  parent_id=parent, parent_text=text)
    return Hit(chunk=chunk, score=score)


@pytest.fixture(scope="module")
def reranker(smol_dir: Path):
    from retrieval.likelihood import get_likelihood_reranker

    return get_likelihood_reranker(smol_dir, "cpu")


@pytest.mark.slow
def test_the_passage_that_answers_is_the_likeliest(reranker) -> None:
    scores = reranker.likelihoods("How do honey bees tell each other where flowers are?", [CANALS, BEES, TEA])
    assert scores[1] == max(scores) and all(s < 0 for s in scores)


@pytest.mark.slow
def test_rerank_moves_the_answering_parent_first_and_leaves_the_rest(reranker) -> None:
    hits = [
        _hit("canal", *CANALS, score=0.90),
        _hit("canal", *CANALS, score=0.85, child=1),
        _hit("bees", *BEES, score=0.80),
        _hit("tea", *TEA, score=0.50),  # beyond depth 2: not scored, keeps its place after the scored ones
    ]
    ranked = reranker.rerank("How do honey bees tell each other where flowers are?", hits, depth=2, weight=1.0)
    assert [h.chunk.parent_id for h in ranked] == ["bees", "canal", "canal", "tea"]
    assert ranked[0].likelihood is not None and ranked[1].likelihood == ranked[2].likelihood
    assert ranked[3].likelihood is None
    unchanged = reranker.rerank("How do honey bees tell each other where flowers are?", hits, depth=2, weight=0.0)
    assert [h.chunk.chunk_id for h in unchanged] == ["canal-0", "canal-1", "bees-0", "tea-0"]


@pytest.mark.slow
def test_the_factory_loads_the_generators_base_model(make_settings, corpus: Path, smol_dir: Path) -> None:
    from retrieval.factory import build_ingestor, build_retriever, likelihood_reranker

    settings = make_settings(generator_model=smol_dir, likelihood_rerank_depth=2)
    build_ingestor(settings).ingest([corpus])
    question = "How many days of annual leave do employees get?"
    hits = build_retriever(settings).search(question, k=5, alpha=0.5)
    hits = likelihood_reranker(settings).rerank(question, hits, depth=2, weight=settings.likelihood_rerank_weight)
    assert len({h.chunk.parent_id for h in hits if h.likelihood is not None}) == 2
    assert hits[0].likelihood is not None and "Annual leave" in hits[0].chunk.title


@pytest.mark.parametrize("module_name, getter, cls, args", [
    ("retrieval.likelihood", "get_likelihood_reranker", "QueryLikelihoodReranker", ("model", "cpu")),
    ("retrieval.reranker", "get_reranker", "CrossEncoderReranker", ("model",)),
    ("retrieval.embedder", "get_embedder", "Embedder", ()),
])
def test_two_first_questions_at_once_load_the_model_once(monkeypatch, module_name, getter, cls, args) -> None:
    import importlib
    import threading
    import time

    module = importlib.import_module(module_name)
    get = getattr(module, getter)
    built = []

    class SlowModel:
        def __init__(self, *args) -> None:
            time.sleep(0.2)  # a model load: long enough for the other thread to arrive
            built.append(args)

    monkeypatch.setattr(module, cls, SlowModel)
    get.cache_clear()
    results = []
    threads = [threading.Thread(target=lambda: results.append(get(*args))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if not args:  # the default argument and the same value passed explicitly are one instance
        results.append(get(None))
    get.cache_clear()
    assert len(built) == 1 and len({id(r) for r in results}) == 1
