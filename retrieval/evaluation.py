"""Retrieval evaluation on SQuAD-format data: ranking metrics, baselines and the gate's separation.

A question's gold document is the paragraph it was written for (``<title>#<index>``). Chunk
hits are collapsed to documents in rank order before scoring. The knowledge base is built
in an isolated data directory so an evaluation never touches the user's store.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.errors import CorruptFile
from retrieval.squad import SquadFormatError, read_squad
from retrieval.types import Hit

KS = (1, 5, 10)


@dataclass(frozen=True)
class LabelledQuestion:
    question: str
    gold: str  # document id
    answer: str = ""  # first answer text (empty for unanswerable questions)


def squad_questions(path: Path, answerable: bool = True, articles: Callable[[int], bool] | None = None) -> list[LabelledQuestion]:
    """Questions of a SQuAD 2.0 file with their paragraph's id (answerable ones by default),
    of the articles whose index ``articles`` accepts (all by default)."""
    try:
        paragraphs = read_squad(path, unique_titles=True)
    except SquadFormatError as error:
        raise CorruptFile(str(error)) from None
    return [
        LabelledQuestion(q.question, p.doc_id, q.answers[0] if q.answers else "")
        for p in paragraphs
        if articles is None or articles(p.article)
        for q in p.questions
        if q.impossible != answerable
    ]


def ood_questions(path: Path) -> list[str]:
    questions = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise CorruptFile(f"{Path(path).name}: cannot read ({error})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            questions.append(str(json.loads(line)["question"]))
        except (ValueError, KeyError, TypeError):
            raise CorruptFile(f"{Path(path).name}: line {number} is not JSON with a 'question' field") from None
    return questions


def ranked_documents(hits: Iterable[Hit]) -> list[str]:
    seen: list[str] = []
    for hit in hits:
        if hit.chunk.doc_id not in seen:
            seen.append(hit.chunk.doc_id)
    return seen


def rank_metrics(rankings: list[list[str]], golds: list[str]) -> dict[str, float]:
    """recall@1/5/10, mrr@10 and ndcg@10 for one relevant document per question."""
    n = max(1, len(golds))
    ranks = [ranking.index(gold) + 1 if gold in ranking else None for ranking, gold in zip(rankings, golds)]
    metrics = {f"recall@{k}": sum(1 for r in ranks if r is not None and r <= k) / n for k in KS}
    metrics["mrr@10"] = sum(1.0 / r for r in ranks if r is not None and r <= 10) / n
    metrics["ndcg@10"] = sum(1.0 / math.log2(r + 1) for r in ranks if r is not None and r <= 10) / n
    return {key: round(value, 4) for key, value in metrics.items()}


def latency(samples_s: list[float]) -> dict[str, float]:
    if not samples_s:
        return {"p50": 0.0, "p95": 0.0}
    ms = np.asarray(samples_s) * 1000.0
    return {"p50": round(float(np.percentile(ms, 50)), 2), "p95": round(float(np.percentile(ms, 95)), 2)}


def auroc(positives: list[float], negatives: list[float]) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    if not positives or not negatives:
        return float("nan")
    scores = np.concatenate([positives, negatives])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    n_pos, n_neg = len(positives), len(negatives)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class RetrievalEvaluation:
    """Runs questions through a retriever (and its store directly, for the baselines).

    Query embeddings are computed in batches for the ranking metrics (the same vectors a
    single search would compute); latency is timed end to end, embedding included, on a
    fixed sample of ``latency_sample`` questions searched one at a time.
    """

    def __init__(self, retriever, scorer, depth: int, alpha: float, latency_sample: int = 200,
                 rerank: Callable[[str, list[Hit]], list[Hit]] | None = None) -> None:
        self.retriever = retriever
        self.scorer = scorer
        self.depth = depth
        self.alpha = alpha
        self.latency_sample = latency_sample
        self.rerank = rerank  # applied after the search, as the pipeline's rerank stage does

    def _search(self, question: str, vector=None) -> list[Hit]:
        hits = self.retriever.search(question, k=self.depth, alpha=self.alpha, vector=vector)
        return self.rerank(question, hits) if self.rerank is not None and hits else hits

    def _vectors(self, texts: list[str]) -> np.ndarray:
        return self.retriever._embedder().encode(texts)

    def _timed(self, questions: list[str], search: Callable[[str], object]) -> dict[str, float]:
        step = max(1, len(questions) // self.latency_sample)
        times = []
        for question in questions[::step][: self.latency_sample]:
            started = time.perf_counter()
            search(question)
            times.append(time.perf_counter() - started)
        return latency(times)

    def baseline(self, questions: list[LabelledQuestion], vectors: np.ndarray, kind: str) -> dict:
        store = self.retriever.store
        if kind == "bm25":
            rankings = [ranked_documents(store.keyword_search(q.question, self.depth)) for q in questions]
            timed = self._timed([q.question for q in questions], lambda text: store.keyword_search(text, self.depth))
        else:
            rankings = [ranked_documents(store.vector_search(v, self.depth)) for v in vectors]
            timed = self._timed([q.question for q in questions],
                                lambda text: store.vector_search(self.retriever.embed_query(text), self.depth))
        return {**rank_metrics(rankings, [q.gold for q in questions]), "latency_ms": timed}

    def evaluate(self, questions: list[LabelledQuestion], ood: list[str] | None, min_relevance: float,
                 progress: Callable[[int, int], None] | None = None) -> dict:
        total = len(questions) + len(ood or [])
        texts = [q.question for q in questions]
        vectors = self._vectors(texts)
        rankings, kb_relevance = [], []
        for n, (item, vector) in enumerate(zip(questions, vectors), start=1):
            hits = self._search(item.question, vector)
            rankings.append(ranked_documents(hits))
            kb_relevance.append(self.scorer.relevance(item.question, hits))
            if progress and n % 100 == 0:
                progress(n, total)
        report: dict = {**rank_metrics(rankings, [q.gold for q in questions])}
        report["latency_ms"] = self._timed(texts, self._search)
        report["baselines"] = {kind: self.baseline(questions, vectors, kind) for kind in ("bm25", "vector")}
        if ood is not None:
            ood_relevance = []
            for n, (question, vector) in enumerate(zip(ood, self._vectors(ood)), start=1):
                hits = self._search(question, vector)
                ood_relevance.append(self.scorer.relevance(question, hits))
                if progress and n % 100 == 0:
                    progress(len(questions) + n, total)
            report["gate_auroc"] = round(auroc(kb_relevance, ood_relevance), 4)
            report["gate_keep"] = round(float(np.mean([r >= min_relevance for r in kb_relevance])), 4)
            report["gate_pass_ood"] = round(float(np.mean([r >= min_relevance for r in ood_relevance])), 4)
        self.kb_relevance, self.ood_relevance = kb_relevance, (ood_relevance if ood is not None else [])
        return report
