"""Hybrid search for a question: embed, search the store, optionally rerank."""

from __future__ import annotations

from collections.abc import Callable

from retrieval.embedder import Embedder
from retrieval.store.base import ChunkStore
from retrieval.types import Hit


class HybridRetriever:
    """``search`` returns hits best first, each with cosine and BM25 filled; with a reranker the
    first ``rerank_depth`` hits also carry ``rerank`` and are re-ordered by it."""

    def __init__(self, store: ChunkStore, embedder: Callable[[], Embedder], reranker: Callable[[], object] | None = None,
                 rerank_depth: int = 20) -> None:
        self.store = store
        self.rerank_depth = rerank_depth
        self._embedder = embedder
        self._reranker = reranker

    def count(self) -> int:
        return self.store.count()

    def warm_up(self) -> None:
        """Load the embedding model (and the reranker) now: a store's deadline must not be
        spent on a model load (the first search used to time out on a busy machine)."""
        self._embedder()
        if self._reranker is not None:
            self._reranker()

    def embed_query(self, query: str):
        return self._embedder().encode([query])[0]

    def search(self, query: str, *, k: int, alpha: float, vector=None) -> list[Hit]:
        """``vector``: the query's embedding when the caller already has it (batch evaluation)."""
        if vector is None:
            vector = self.embed_query(query)
        hits = self.store.hybrid_search(query, vector, k=k, alpha=alpha)
        if self._reranker is not None and hits:
            head, tail = hits[: self.rerank_depth], hits[self.rerank_depth :]
            hits = self._reranker().rerank(query, head) + tail  # only the head is worth CPU time
        return hits
