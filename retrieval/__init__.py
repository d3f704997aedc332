"""Ingestion, the embedded and Weaviate stores, hybrid search, reranking and the relevance gate."""
