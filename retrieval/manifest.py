"""What a knowledge base was built with: the embedding model and the chunk settings.

Vectors from one model mean nothing to another (a different model of the same size searched
silently with cosines near 0; another size crashed mid-ingest), and chunk settings only apply
to documents that change. Ingest records these per store and tenant; ingest, `ask` and
`serve` compare them with the current settings before touching the store.
"""

from __future__ import annotations

import json
from pathlib import Path

from bot.settings import Settings

MANIFEST_FILE = "knowledge_base.json"
KEYS = ("embedding_model", "chunk_tokens", "chunk_overlap_tokens", "parent_max_chars")


def _path(settings: Settings) -> Path:
    return settings.data_dir / MANIFEST_FILE


def _key(settings: Settings) -> str:
    return f"{settings.store}:{settings.tenant}"


def current(settings: Settings) -> dict[str, str]:
    values = {key: str(getattr(settings, key)) for key in KEYS}
    values["embedding_model"] = str(settings.embedding_model.resolve()) if settings.embedding_model else "packaged all-MiniLM-L6-v2"
    return values


def _table(settings: Settings) -> dict[str, dict[str, str]]:
    try:
        table = json.loads(_path(settings).read_text())
    except (OSError, ValueError):
        return {}
    return table if isinstance(table, dict) else {}


def _save(settings: Settings, table: dict[str, dict[str, str]]) -> None:
    path = _path(settings)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(table, indent=2))
    tmp.replace(path)


def recorded(settings: Settings) -> dict[str, str] | None:
    return _table(settings).get(_key(settings))


def mismatch(settings: Settings) -> str | None:
    """A one-line description of how the settings differ from what the store was built with."""
    built = recorded(settings)
    if not built:
        return None
    now = current(settings)
    changed = [f"{key} {built.get(key)} -> {now[key]}" for key in KEYS if built.get(key) != now[key]]
    return "; ".join(changed) or None


def record(settings: Settings) -> None:
    table = _table(settings)
    table[_key(settings)] = current(settings)
    _save(settings, table)


def forget(settings: Settings) -> None:
    """The store for this tenant was emptied (``ingest --rebuild``)."""
    table = _table(settings)
    if table.pop(_key(settings), None) is not None:
        _save(settings, table)
