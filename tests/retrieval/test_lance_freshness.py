"""A running bot sees documents that another process (`ragbot ingest`) added, without a restart."""

from __future__ import annotations

import time
from pathlib import Path

from retrieval.store.lance import READ_CONSISTENCY


def test_a_long_lived_retriever_sees_a_later_ingest(make_settings, corpus: Path, tmp_path: Path) -> None:
    from retrieval.factory import build_ingestor, build_retriever

    settings = make_settings()
    build_ingestor(settings).ingest([corpus])
    retriever = build_retriever(settings)  # the bot's long-lived retriever, with its own connection
    assert retriever.search("espresso machine descaled", k=3, alpha=0.5)[0].chunk.title != "Parking"

    extra = tmp_path / "more"
    extra.mkdir()
    (extra / "parking.md").write_text("# Parking\n\nThe garage barrier opens with the blue badge after 18:00.\n")
    build_ingestor(settings).ingest([extra])  # a separate writer, as `ragbot ingest` would be
    time.sleep(READ_CONSISTENCY.total_seconds() + 0.5)

    hits = retriever.search("Which badge opens the garage barrier?", k=3, alpha=0.5)
    assert hits[0].chunk.title == "Parking"


def test_replacing_a_document_never_leaves_a_version_without_it(make_settings, corpus: Path) -> None:
    """A reader may land on any committed version: the old delete-then-add committed one with
    the changed document missing (an empty knowledge base for a one-document change)."""
    from retrieval.factory import build_ingestor, build_store

    settings = make_settings()
    build_ingestor(settings).ingest([corpus])
    table = build_store(settings)._open()
    first = table.version
    for page in corpus.rglob("*.md"):
        page.write_text(page.read_text() + "\nOne more line.\n")
    build_ingestor(settings).ingest([corpus])
    table = build_store(settings)._open()
    for version in range(first + 1, table.version + 1):
        table.checkout(version)
        stored = set(table.to_lance().to_table(columns=["doc_id"])["doc_id"].to_pylist())
        assert len(stored) == len(list(corpus.iterdir())), f"version {version} lacks a document"
