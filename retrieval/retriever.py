"""Hybrid search for a question: embed, search the store, optionally rerank."""

from __future__ import annotations

import logging
from collections.abc import Callable

from retrieval.embedder import Embedder
from retrieval.store.base import ChunkStore
from retrieval.types import Hit

log = logging.getLogger(__name__)


class HybridRetriever:
    """``search`` returns hits best first, each with cosine and BM25 filled.

    With a cross-encoder the first ``rerank_depth`` hits also carry ``rerank`` and are
    re-ordered by it; with ``likelihood_depth`` > 0 the first that many parent sections are
    then re-scored by the language model's question likelihood (``Hit.likelihood``). Both
    models load on first use."""

    def __init__(self, store: ChunkStore, embedder: Callable[[], Embedder], reranker: Callable[[], object] | None = None,
                 rerank_depth: int = 20, likelihood: Callable[[], object] | None = None) -> None:
        self.store = store
        self.rerank_depth = rerank_depth
        self._embedder = embedder
        self._reranker = reranker
        self._likelihood = likelihood

    def count(self) -> int:
        return self.store.count()

    def embed_query(self, query: str):
        return self._embedder().encode([query])[0]

    def search(self, query: str, *, k: int, alpha: float, vector=None, likelihood_depth: int = 0,
               likelihood_weight: float = 0.7) -> list[Hit]:
        """``vector``: the query's embedding when the caller already has it (batch evaluation)."""
        if vector is None:
            vector = self.embed_query(query)
        hits = self.store.hybrid_search(query, vector, k=k, alpha=alpha)
        if self._reranker is not None and hits:
            head, tail = hits[: self.rerank_depth], hits[self.rerank_depth :]
            hits = self._reranker().rerank(query, head) + tail  # only the head is worth CPU time
        if likelihood_depth > 0 and self._likelihood is not None and hits:
            try:
                hits = self._likelihood().rerank(query, hits, likelihood_depth, likelihood_weight)
            except Exception:  # noqa: BLE001 - an optional re-ordering must not cost the user the answer
                log.exception("likelihood reranking failed; keeping the hybrid order")
        return hits
