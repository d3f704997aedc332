"""Stable ids and content hashes: re-ingesting the same content yields the same ids."""

from __future__ import annotations

import hashlib
import uuid

_NAMESPACE = uuid.UUID("6f1d3a4e-8c2b-5d7f-9a1e-2b3c4d5e6f70")


def content_hash(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()[:32]


def stable_uuid(tenant: str, chunk_id: str) -> str:
    """Deterministic uuid5 object id (Weaviate needs UUIDs; the same chunk always gets the same one)."""
    return str(uuid.uuid5(_NAMESPACE, f"{tenant}\x1f{chunk_id}"))
