"""The store protocol both backends implement, and the score fusion they share.

Same semantics on both: keyword search is BM25 over title (boosted) and text; vector search
is cosine over self-provided, normalized embeddings; hybrid fuses both result lists by
relative score (each list min-max normalized, then ``alpha * vector + (1 - alpha) * bm25``)
and every hit carries its absolute signals (cosine, raw BM25) for the relevance gate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from retrieval.types import Chunk, Hit

TITLE_BOOST = 2.0


@dataclass
class UpsertReport:
    written: int = 0
    failed: list[str] = field(default_factory=list)  # "chunk_id: reason"


class ChunkStore(Protocol):
    tenant: str

    def count(self) -> int: ...

    def document_hashes(self) -> dict[str, tuple[str, str]]:
        """doc_id -> (content hash, location) of every stored document."""
        ...

    def upsert(self, chunks: list[Chunk], vectors: np.ndarray) -> UpsertReport:
        """Write ``chunks``; every stored chunk of the same documents is replaced."""
        ...

    def delete_documents(self, doc_ids: Iterable[str]) -> int: ...

    def clear(self) -> None:
        """Remove every chunk of this tenant, and its vector size (``ingest --rebuild``)."""
        ...

    def finish_ingest(self) -> None:
        """Bring indexes up to date after a batch of writes."""
        ...

    def unfinished(self) -> bool:
        """Whether an earlier ingest wrote and stopped before ``finish_ingest`` (Ctrl-C, a full
        disk): the next ingest finishes it even when it has nothing new to write."""
        ...

    def keyword_search(self, query: str, k: int) -> list[Hit]: ...

    def vector_search(self, vector: np.ndarray, k: int) -> list[Hit]: ...

    def hybrid_search(self, query: str, vector: np.ndarray, k: int, alpha: float) -> list[Hit]: ...


def min_max(scores: list[float]) -> list[float]:
    if not scores:
        return []
    low, high = min(scores), max(scores)
    if high - low <= 1e-12:
        return [1.0 for _ in scores]
    return [(s - low) / (high - low) for s in scores]


def relative_score_fusion(vector_hits: list[Hit], keyword_hits: list[Hit], alpha: float, k: int) -> list[Hit]:
    """Weaviate's relativeScoreFusion, done locally: each list min-max normalized, then weighted."""
    fused: dict[str, Hit] = {}
    weights: dict[str, float] = {}
    for hit, norm in zip(vector_hits, min_max([h.cosine or 0.0 for h in vector_hits])):
        fused[hit.chunk.chunk_id] = hit
        weights[hit.chunk.chunk_id] = alpha * norm
    for hit, norm in zip(keyword_hits, min_max([h.bm25 or 0.0 for h in keyword_hits])):
        key = hit.chunk.chunk_id
        if key in fused:
            fused[key].bm25 = hit.bm25
        else:
            fused[key] = hit
            weights[key] = 0.0
        weights[key] += (1.0 - alpha) * norm
    ranked = sorted(fused, key=lambda key: (-weights[key], key))[:k]
    result = []
    for key in ranked:
        hit = fused[key]
        hit.score = float(weights[key])
        result.append(hit)
    return result
