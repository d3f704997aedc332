"""One store protocol, two backends: embedded LanceDB (default) and Weaviate."""

from retrieval.store.base import ChunkStore, UpsertReport

__all__ = ["ChunkStore", "UpsertReport"]
