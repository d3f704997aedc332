"""Fusion methods compared on the same keyword and vector lists: ragbot's relative-score fusion
(RSF, Weaviate's default), reciprocal-rank fusion (RRF, k=60) at chunk and at document level,
and distribution-based fusion (each list z-scored). Issue 4, session 14.

Run from the repository root: .venv/bin/python benchmarks/experiments/fusion_rrf.py [--articles 0/2]
Scratch (the dev knowledge base) goes to $SCRATCH (_paths.py).
"""
import argparse
import os
import time
from pathlib import Path

import numpy as np
from _paths import DATA, SCRATCH  # also puts the repository on sys.path

from bot.settings import Settings
from retrieval.evaluation import rank_metrics, ranked_documents, squad_questions
from retrieval.factory import build_ingestor, build_retriever
from retrieval.store.base import relative_score_fusion

parser = argparse.ArgumentParser()
parser.add_argument("--depth", type=int, default=30, help="hits per list (ragbot's candidates)")
parser.add_argument("--alpha", type=float, default=0.5)
parser.add_argument("--articles", default=None, help="M/N: only articles whose index %% N == M (held-out halves)")
args = parser.parse_args()

squad = Path(os.path.join(DATA, "squad2-kb-dev.json"))
settings = Settings().with_overrides({"data_dir": os.path.join(SCRATCH, "kb"), "tenant": "fusion"})
retriever = build_retriever(settings)
if retriever.count() == 0:
    started = time.perf_counter()
    build_ingestor(settings).ingest([squad])
    print(f"ingested in {time.perf_counter() - started:.0f} s", flush=True)
articles = None
if args.articles:
    m, n = (int(x) for x in args.articles.split("/"))
    articles = lambda index: index % n == m  # noqa: E731
questions = squad_questions(squad, articles=articles)
vectors = retriever._embedder().encode([q.question for q in questions])
store = retriever.store


def rrf(lists, k=60, key=lambda hit: hit.chunk.chunk_id):
    scores, hits = {}, {}
    for ranked in lists:
        seen = set()
        rank = 0
        for hit in ranked:
            name = key(hit)
            if name in seen:  # a document's later chunks do not count again in document-level RRF
                continue
            seen.add(name)
            rank += 1
            scores[name] = scores.get(name, 0.0) + 1.0 / (k + rank)
            hits.setdefault(name, hit)
    return [hits[name] for name in sorted(scores, key=lambda name: -scores[name])]


def dbsf(vector_hits, keyword_hits, alpha):
    """Each list's scores z-scored (mean 0, sd 1) instead of min-max, then weighted."""
    def z(values):
        values = np.asarray(values, dtype=np.float64)
        return (values - values.mean()) / (values.std() or 1.0) if len(values) else values

    scores, hits = {}, {}
    for weight, hits_list, value in ((alpha, vector_hits, lambda h: h.cosine or 0.0), (1 - alpha, keyword_hits, lambda h: h.bm25 or 0.0)):
        for hit, norm in zip(hits_list, z([value(h) for h in hits_list])):
            name = hit.chunk.chunk_id
            scores[name] = scores.get(name, 0.0) + weight * float(norm)
            hits.setdefault(name, hit)
    return [hits[name] for name in sorted(scores, key=lambda name: -scores[name])]


rankings = {"rsf (ragbot)": [], "rrf k=60, chunks": [], "rrf k=60, documents": [], "dbsf (z-scores)": [], "bm25 only": [], "vector only": []}
for question, vector in zip(questions, vectors):
    keyword_hits = store.keyword_search(question.question, args.depth, vector=vector)
    vector_hits = store.vector_search(vector, args.depth)
    rankings["rsf (ragbot)"].append(ranked_documents(relative_score_fusion(list(vector_hits), list(keyword_hits), args.alpha, args.depth)))
    rankings["rrf k=60, chunks"].append(ranked_documents(rrf([vector_hits, keyword_hits])))
    rankings["rrf k=60, documents"].append(ranked_documents(rrf([vector_hits, keyword_hits], key=lambda hit: hit.chunk.doc_id)))
    rankings["dbsf (z-scores)"].append(ranked_documents(dbsf(vector_hits, keyword_hits, args.alpha)))
    rankings["bm25 only"].append(ranked_documents(keyword_hits))
    rankings["vector only"].append(ranked_documents(vector_hits))
golds = [q.gold for q in questions]
print(f"{len(questions)} questions, depth {args.depth}, alpha {args.alpha}, articles {args.articles or 'all'}")
print("| fusion | R@1 | R@5 | R@10 | MRR@10 |")
print("|---|---|---|---|---|")
for name, ranked in rankings.items():
    metrics = rank_metrics(ranked, golds)
    print(f"| {name} | {metrics['recall@1']:.3f} | {metrics['recall@5']:.3f} | {metrics['recall@10']:.3f} | {metrics['mrr@10']:.3f} |")
