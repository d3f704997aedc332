"""Builds retrieval components from settings; models and stores open lazily, on first use."""

from __future__ import annotations

from functools import partial

from bot.settings import Settings
from retrieval.chunking import Chunker
from retrieval.embedder import get_embedder
from retrieval.ingest import Ingestor
from retrieval.relevance import CalibratedRelevance
from retrieval.retriever import HybridRetriever
from retrieval.store.base import ChunkStore


def build_store(settings: Settings) -> ChunkStore:
    if settings.store == "weaviate":
        from retrieval.store.weaviate import WeaviateStore

        return WeaviateStore.from_settings(settings)
    from retrieval.store.lance import LanceStore

    return LanceStore(settings.store_dir, settings.tenant, settings.max_vector_distance)


def chunker_for(settings: Settings) -> Chunker:
    embedder = get_embedder(settings.embedding_model)
    return Chunker(embedder.tokenizer, settings.chunk_tokens, settings.chunk_overlap_tokens, settings.parent_max_chars)


def build_retriever(settings: Settings) -> HybridRetriever:
    reranker = None
    if settings.reranker_model is not None:
        from retrieval.reranker import get_reranker

        reranker = partial(get_reranker, settings.reranker_model)
    return HybridRetriever(build_store(settings), partial(get_embedder, settings.embedding_model), reranker)


def likelihood_reranker(settings: Settings):
    """The query-likelihood scorer on the generator's base model (loads it on the first call)."""
    from adapters.local import pick_device
    from adapters.model_store import resolve_model_dir
    from retrieval.likelihood import get_likelihood_reranker

    return get_likelihood_reranker(resolve_model_dir(settings.generator_model, settings.model_cache_dir), pick_device(settings.device))


def build_relevance_scorer(settings: Settings) -> CalibratedRelevance:
    return CalibratedRelevance()


def build_ingestor(settings: Settings) -> Ingestor:
    return Ingestor(build_store(settings), partial(get_embedder, settings.embedding_model), partial(chunker_for, settings))


def knowledge_base_size(settings: Settings) -> int:
    """Chunks stored for ``settings.tenant`` (0 when nothing was ingested); raises StoreUnavailable."""
    return build_store(settings).count()
