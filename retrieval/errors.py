"""Retrieval errors the CLI and the pipeline turn into one-line messages."""

from __future__ import annotations


class RetrievalError(Exception):
    """Base class: anything retrieval reports to a user as one line."""


class EmptyKnowledgeBase(RetrievalError):
    """Nothing has been ingested for this tenant yet."""

    def __init__(self, tenant: str = "default") -> None:
        super().__init__(f"the knowledge base for tenant {tenant!r} is empty; run `ragbot ingest PATH` first")
        self.tenant = tenant


class StoreUnavailable(RetrievalError):
    """The configured store cannot be opened or reached (bad path, server down, missing URL)."""


class StoreMisconfigured(RetrievalError):
    """The store answers but refuses ragbot's configuration (credentials, server version):
    retrying cannot help, someone must fix a setting."""


class ModelUnavailable(RetrievalError):
    """A configured model (embedder, cross-encoder) cannot be loaded from its directory."""


class UnsupportedFile(RetrievalError):
    """A file type no loader handles."""


class CorruptFile(RetrievalError):
    """A file of a supported type that cannot be read or parsed."""


class MissingPath(RetrievalError):
    """A path given to ingest does not exist."""
