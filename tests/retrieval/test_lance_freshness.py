"""A running bot sees documents that another process (`ragbot ingest`) added, without a restart."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

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


def _edit_and_reingest(settings, corpus: Path, times: int) -> None:
    from retrieval.factory import build_ingestor

    for round_ in range(times):
        for page in corpus.rglob("*.md"):
            page.write_text(page.read_text() + f"\nEdit {round_}.\n")
        build_ingestor(settings).ingest([corpus])


@pytest.mark.filterwarnings("ignore:optimize")
def test_reingesting_removes_superseded_versions(make_settings, corpus: Path, monkeypatch) -> None:
    """Each ingest adds versions and a new keyword index; without cleanup the store only grew."""
    import retrieval.store.lance as lance
    from retrieval.factory import build_ingestor, build_retriever, build_store

    monkeypatch.setattr(lance, "KEEP_OLD_VERSIONS", timedelta(0))  # as if every earlier version were old
    waits: list[float] = []
    monkeypatch.setattr(lance.time, "sleep", waits.append)
    settings = make_settings()
    build_ingestor(settings).ingest([corpus])
    _edit_and_reingest(settings, corpus, times=4)

    table = build_store(settings)._open()
    assert len(table.list_versions()) <= 2
    assert len(list((settings.data_dir / "store" / f"{table.name}.lance" / "data").iterdir())) <= 2
    assert waits and all(0 < w <= 2 * lance.READ_CONSISTENCY.total_seconds() + 1 for w in waits)  # readers got time to move on
    hits = build_retriever(settings).search("How many days of annual leave?", k=3, alpha=0.5)
    assert hits[0].chunk.title == "Annual leave"
    texts = table.to_lance().to_table(columns=["parent_text"])["parent_text"].to_pylist()
    assert any("Edit 3." in t for t in texts) and not any("Edit 3." not in t and "Edit 2." in t for t in texts)


def test_young_versions_are_kept_and_nothing_waits(make_settings, corpus: Path, monkeypatch) -> None:
    import retrieval.store.lance as lance
    from retrieval.factory import build_ingestor, build_store

    waits: list[float] = []
    monkeypatch.setattr(lance.time, "sleep", waits.append)
    settings = make_settings()
    build_ingestor(settings).ingest([corpus])
    before = len(build_store(settings)._open().list_versions())
    _edit_and_reingest(settings, corpus, times=1)
    assert len(build_store(settings)._open().list_versions()) > before and not waits


def test_a_store_whose_files_vanish_while_serving_is_unavailable_not_a_crash(make_settings, corpus: Path) -> None:
    """Lance's RuntimeError ("Not found: ...lance/data/...") was a generic stage failure: not
    retried, not counted as a store error, and the asker read "something went wrong"."""
    import shutil

    from retrieval.errors import StoreUnavailable
    from retrieval.factory import build_ingestor, build_retriever

    settings = make_settings()
    build_ingestor(settings).ingest([corpus])
    retriever = build_retriever(settings)
    assert retriever.search("espresso machine descaled", k=3, alpha=0.5)
    store = next(p for p in settings.data_dir.iterdir() if p.is_dir() and any(p.rglob("*.lance")))
    shutil.move(store, store.with_name("moved-away"))
    with pytest.raises(StoreUnavailable, match="cannot read the LanceDB store"):
        retriever.search("Which badge opens the garage barrier?", k=3, alpha=0.5)
    shutil.move(store.with_name("moved-away"), store)
    assert retriever.search("espresso machine descaled", k=3, alpha=0.5)  # back when the files are
