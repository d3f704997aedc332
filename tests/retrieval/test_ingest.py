"""Ingest bookkeeping that does not depend on the store: what fails, what is kept, what is pruned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real embedder, embedded LanceDB store


@pytest.fixture
def settings(make_settings):
    return make_settings(tenant="ingest")


def _ingest(settings, paths, **kwargs):
    from retrieval.factory import build_ingestor

    return build_ingestor(settings).ingest(paths, **kwargs)


def _stored(settings) -> set[str]:
    from retrieval.factory import build_store

    return {Path(doc_id).name if "#" not in doc_id else doc_id for doc_id in build_store(settings).document_hashes()}


def _squad(path: Path, title: str, context: str) -> Path:
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": title, "paragraphs": [{"context": context, "qas": []}]}]}))
    return path


def test_files_without_text_fail_by_name_and_the_rest_goes_in(settings, corpus: Path) -> None:
    (corpus / "empty.md").write_text("")
    (corpus / "blank.txt").write_text("  \n\t\n")
    (corpus / "nav.html").write_text("<html><body><nav><a href='/'>Home</a></nav></body></html>")
    (corpus / "none.json").write_text('{"data": []}')
    (corpus / "broken.json").write_text('{"data": [1]}')
    report = _ingest(settings, [corpus])
    assert report.added == 3
    assert {name: reason.split(";")[0] for name, reason in report.failures.items()} == {
        "empty.md": "no text to index",
        "blank.txt": "no text to index",
        "nav.html": "no text to index",
        "none.json": "no text to index",
        "broken.json": "article 0 is not a SQuAD article (an object with a 'paragraphs' list)",
    }
    assert _stored(settings) == {"vpn.md", "leave.md", "espresso.txt"}


def test_an_emptied_file_keeps_its_stored_copy_even_with_prune(settings, corpus: Path) -> None:
    _ingest(settings, [corpus])
    (corpus / "leave.md").write_text("")
    report = _ingest(settings, [corpus], prune=True)
    assert report.failures == {"leave.md": "no text to index; the stored copy is kept"}
    assert (report.updated, report.removed) == (0, 0)
    assert "leave.md" in _stored(settings)


def test_prune_removes_the_documents_of_a_deleted_folder(settings, corpus: Path, tmp_path: Path) -> None:
    """The folder must exist to be walked, so `ingest OLD --prune` after `mv OLD NEW` failed and
    answers kept citing files that were gone."""
    from retrieval.errors import RetrievalError

    _ingest(settings, [corpus])
    corpus.rename(tmp_path / "moved")
    with pytest.raises(RetrievalError, match="no such file or folder"):
        _ingest(settings, [corpus])  # without --prune a missing path is still a mistake
    report = _ingest(settings, [corpus], prune=True, forget_missing=True)
    assert report.removed == 3 and not report.failures and _stored(settings) == set()


def test_prune_keeps_what_came_from_a_path_that_is_gone_or_empty_unless_told(settings, corpus: Path, tmp_path: Path) -> None:
    """A cron `ingest /mnt/docs --prune` while the share was not mounted emptied the knowledge
    base and exited 0."""
    _ingest(settings, [corpus])
    corpus.rename(tmp_path / "unmounted")
    report = _ingest(settings, [corpus], prune=True)
    assert report.removed == 0 and _stored(settings) == {"vpn.md", "leave.md", "espresso.txt"}
    assert report.failures == {str(corpus): "no such file or folder; what was stored from it (3 files) is kept (an unmounted share looks "
                                             "the same: add --forget-missing to remove it)"}
    corpus.mkdir()  # an empty mount point
    assert "holds no supported file" in _ingest(settings, [corpus], prune=True).failures[str(corpus)]
    assert _ingest(settings, [tmp_path / "typo"], prune=True).failures == {str(corpus.parent / "typo"): "no such file or folder"}
    assert _stored(settings) == {"vpn.md", "leave.md", "espresso.txt"}


def test_prune_with_a_root_inside_another_is_no_failure(settings, corpus: Path) -> None:
    """Each file is listed under the first root it was found in: the inner root looked empty."""
    (corpus / "hr").mkdir()
    (corpus / "hr" / "parental.md").write_text("# Parental leave\n\nTwenty weeks of parental leave, fully paid.\n")
    _ingest(settings, [corpus])
    (corpus / "espresso.txt").unlink()
    report = _ingest(settings, [corpus, corpus / "hr", corpus / "vpn.md"], prune=True)
    assert not report.failures and report.removed == 1 and _stored(settings) == {"vpn.md", "leave.md", "parental.md"}


def test_an_ingest_cut_off_before_its_keyword_index_is_finished_by_the_next(settings, corpus: Path, monkeypatch) -> None:
    """The rerun found every document unchanged, skipped the index, and searched vectors only for good."""
    from retrieval.factory import build_store
    from retrieval.store.lance import LanceStore

    def cut_off(self):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(LanceStore, "finish_ingest", cut_off)
        with pytest.raises(KeyboardInterrupt):
            _ingest(settings, [corpus])
    store = build_store(settings)
    assert store.unfinished() and not store._has_fts(store._open())
    report = _ingest(settings, [corpus])
    assert report.skipped == 3 and report.chunks == 0
    store = build_store(settings)  # a fresh handle: the old one reads the table as it was
    assert not store.unfinished() and store._has_fts(store._open())


def test_same_named_failures_in_different_folders_are_both_reported(settings, tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "README.md").write_text("")
    (tmp_path / "a" / "ok.md").write_text("# OK\n\nSome text.")
    report = _ingest(settings, [tmp_path])
    assert set(report.failures) == {"a/README.md", "b/README.md"}


def test_squad_files_with_the_same_article_do_not_overwrite_each_other(settings, tmp_path: Path) -> None:
    first = _squad(tmp_path / "a.json", "Policies", "Laptops are replaced every four years.")
    second = _squad(tmp_path / "b.json", "Policies", "Badges must be worn at all times.")
    together = _ingest(settings, [tmp_path])
    assert together.added == 1 and together.failures == {
        "b.json": f"document id 'Policies#0' already comes from {first}; skipped (rename the article or the file)"
    }
    alone = _ingest(settings, [second])  # a later run, the first file still there
    assert alone.updated == 0 and list(alone.failures) == ["b.json"]
    first.unlink()  # the article moved to b.json: now it is a replacement
    moved = _ingest(settings, [second])
    assert (moved.updated, moved.failures) == (1, {})

    twice = tmp_path / "twice.json"
    article = {"title": "Twice", "paragraphs": [{"context": "Stored once.", "qas": []}]}
    twice.write_text(json.dumps({"data": [article, {**article, "paragraphs": [{"context": "Not stored.", "qas": []}]}]}))
    report = _ingest(settings, [twice])
    assert report.added == 1 and report.failures == {"twice.json": "document id 'Twice#0' already comes earlier in this file; "
                                                                   "skipped (rename the article or the file)"}


def test_unreadable_folder_is_reported_and_not_pruned(settings, corpus: Path, unlistable) -> None:
    locked = corpus / "team"
    locked.mkdir()
    (locked / "on-call.md").write_text("# On-call\n\nThe on-call engineer answers pages within 15 minutes.\n")
    _ingest(settings, [corpus])
    assert "on-call.md" in _stored(settings)
    unlistable(locked)
    report = _ingest(settings, [corpus], prune=True)
    assert report.failures == {"team": "cannot read folder (Permission denied)"} and report.removed == 0
    assert "on-call.md" in _stored(settings)


def test_a_new_document_layout_rechunks_unchanged_files(settings, corpus: Path, monkeypatch) -> None:
    """After an upgrade that loads or splits documents differently, unchanged files are re-chunked
    (otherwise the old pieces stayed until each file happened to change)."""
    import retrieval.chunking as chunking

    _ingest(settings, [corpus])
    assert _ingest(settings, [corpus]).skipped == 3
    monkeypatch.setattr(chunking, "LAYOUT_VERSION", chunking.LAYOUT_VERSION + "-next")
    again = _ingest(settings, [corpus])
    assert again.updated == 3 and again.skipped == 0
