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
