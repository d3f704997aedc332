"""Data that flows through retrieval: documents, chunks and search hits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Document:
    """One source document as a loader produced it."""

    doc_id: str
    title: str
    text: str
    location: str
    updated: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Chunk:
    """A searchable piece of a document; ``parent_text`` is what the generator sees."""

    chunk_id: str
    doc_id: str
    title: str
    location: str
    text: str
    parent_id: str
    parent_text: str
    section: str = ""
    content_hash: str = ""
    updated: str = ""  # the document's last-modified time, ISO 8601 (empty when unknown)


@dataclass
class Hit:
    """A search result with the absolute signals the relevance gate needs."""

    chunk: Chunk
    score: float  # fused hybrid score: ranks within one result list, not comparable across queries
    cosine: float | None = None  # cosine similarity of query and chunk embeddings
    bm25: float | None = None  # raw BM25 score, when the keyword side matched
    rerank: float | None = None  # cross-encoder score in [0, 1], when a reranker ran
    likelihood: float | None = None  # mean log-probability of the question given the parent, when that reranker ran
