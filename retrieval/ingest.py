"""Incremental ingest: load, hash, skip unchanged, chunk and embed changed, replace, prune.

A document's content hash is stored on each of its chunks; an unchanged document costs a
file read and a hash, never an embedding, which is what makes re-ingest cheap. A corrupt,
empty or unreadable file (or folder) is reported by name and skipped, and its already stored
documents are kept, --prune included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.chunking import Chunker, document_hash, embedding_text
from retrieval.embedder import Embedder
from retrieval.loaders import Discovery, check_paths, discover, load_file
from retrieval.errors import CorruptFile, UnsupportedFile
from retrieval.store.base import ChunkStore
from retrieval.types import Chunk, Document

Progress = Callable[[int, int, str], None]  # (files done, files total, current file name)
_BATCH_CHUNKS = 256
_CHARS_PER_CHUNK = 110  # measured with the default 48-token chunks (12 overlap): ~113 characters each


@dataclass
class IngestReport:
    files: int = 0
    added: int = 0
    updated: int = 0
    skipped: int = 0
    removed: int = 0
    chunks: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # file (path under its folder) -> reason
    ignored: int = 0  # files in the folders whose type no loader reads
    seconds: float = 0.0

    @property
    def documents(self) -> int:
        return self.added + self.updated + self.skipped

    def summary(self) -> str:
        return (
            f"{_count(self.files, 'file')}, {_count(self.documents, 'document')}: {self.added} added, {self.updated} updated, "
            f"{self.skipped} unchanged, {self.removed} removed; {_count(self.chunks, 'chunk')} written; {len(self.failures)} failed"
            + (f"; {_count(self.ignored, 'file')} of unsupported types ignored" if self.ignored else "")
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def source_file(location: str, doc_id: str) -> str:
    """The file a stored document came from (SQuAD documents live at ``file#doc_id``)."""
    suffix = f"#{doc_id}"
    return location[: -len(suffix)] if location.endswith(suffix) and location != doc_id else location


def _under(file: str, roots: list[Path]) -> bool:
    path = Path(file)
    return any(path == root or root in path.parents for root in roots)


def _shown(file: Path, root: Path) -> str:
    """How a file is named in the report: its path under the folder given to ingest."""
    if file == root:
        return file.name
    try:
        return str(file.relative_to(root))
    except ValueError:
        return str(file)


class Ingestor:
    def __init__(self, store: ChunkStore, embedder: Callable[[], Embedder], chunker: Callable[[], Chunker]) -> None:
        self.store = store
        self._embedder = embedder
        self._chunker = chunker

    def ingest(self, paths: list[Path], progress: Progress | None = None, prune: bool = False, forget_missing: bool = False) -> IngestReport:
        """``prune``: remove stored documents under ``paths`` that are gone from them; a path
        that is gone, or holds no supported file, keeps what was stored from it unless
        ``forget_missing`` (an unmounted share looks the same as a deleted folder)."""
        import time

        started = time.perf_counter()
        roots = check_paths(paths, allow_missing=prune)
        found = discover(roots)
        report = IngestReport(files=len(found.files), ignored=len(found.ignored))
        kept = list(found.problems)  # unreadable folders and broken links: what is stored from them stays
        for path, reason in found.problems.items():
            root = next((r for r in roots if _under(str(path), [r])), path)
            report.failures[_shown(path, root)] = reason
        stored = self.store.document_hashes()
        stored_sources = {source_file(location, doc_id) for doc_id, (_, location) in stored.items()}
        if prune:
            kept += self._empty_roots(roots, found, stored_sources, report, forget_missing)
        origin: dict[str, Path] = {}  # doc id -> the file it came from in this run
        pending: list[tuple[Document, bool, str]] = []
        pending_chunks = 0
        changed = False

        for done, (file, root) in enumerate(found.files, start=1):
            documents, problem = self._load(file, stored, stored_sources, origin)
            if problem:
                report.failures[_shown(file, root)] = problem
                kept.append(file)
            for document in documents:
                previous = stored.get(document.doc_id)
                if previous is not None and previous[0] == document_hash(document):
                    report.skipped += 1
                    continue
                pending.append((document, previous is not None, _shown(file, root)))
                pending_chunks += max(1, len(document.text) // _CHARS_PER_CHUNK)
                if pending_chunks >= _BATCH_CHUNKS:
                    changed |= self._write(pending, report)
                    pending, pending_chunks = [], 0
            if progress:
                progress(done, len(found.files), file.name)
        changed |= self._write(pending, report)

        if prune:
            gone = [
                doc_id
                for doc_id, (_, location) in stored.items()
                if doc_id not in origin and _under(source_file(location, doc_id), roots) and not _under(source_file(location, doc_id), kept)
            ]
            if gone:
                self.store.delete_documents(gone)
                report.removed = len(gone)
                changed = True
        if changed or self.store.unfinished():  # an earlier run stopped between its writes and the index
            self.store.finish_ingest()
        report.seconds = time.perf_counter() - started
        return report

    @staticmethod
    def _empty_roots(roots: list[Path], found: Discovery, stored_sources: set[str], report: IngestReport, forget_missing: bool) -> list[Path]:
        """The paths that are gone or hold no supported file while documents stored from them
        remain: reported, and (unless ``forget_missing``) what came from them is kept."""
        found_under = [str(file) for file, _ in found.files] + [str(path) for path in found.problems]
        kept = []
        for root in roots:
            if any(_under(file, [root]) for file in found_under):  # a root inside another one lists its files under that one
                continue
            from_it = sum(1 for source in stored_sources if _under(source, [root]))
            why = "no such file or folder" if not root.exists() else "holds no supported file"
            if from_it and not forget_missing:
                report.failures[str(root)] = (f"{why}; what was stored from it ({_count(from_it, 'file')}) is kept (an unmounted share looks "
                                              "the same: add --forget-missing to remove it)")
                kept.append(root)
            elif not root.exists() and not from_it:
                report.failures[str(root)] = why  # a typo, most likely
        return kept

    @staticmethod
    def _load(file: Path, stored: dict[str, tuple[str, str]], stored_sources: set[str], origin: dict[str, Path]) -> tuple[list[Document], str | None]:
        """``file``'s documents that can go in, and why the rest cannot (None when all can).

        A file that yields no text fails as a whole and its stored copy stays: an emptied or
        unreadable file is more often a mistake than a deletion (delete it and --prune for that).
        A document id another file already supplies is refused, not overwritten (two SQuAD
        files with an article of the same title).
        """
        try:
            documents = [d for d in load_file(file) if d.text.strip()]
        except (CorruptFile, UnsupportedFile) as error:
            return [], str(error).removeprefix(f"{file.name}: ")
        if not documents:
            return [], "no text to index" + ("; the stored copy is kept" if str(file) in stored_sources else "")
        accepted, clashes = [], []
        for document in documents:
            other = origin.get(document.doc_id)
            if other is None and document.doc_id in stored:
                earlier = Path(source_file(stored[document.doc_id][1], document.doc_id))
                other = earlier if earlier != file and earlier.exists() else None
            if other is not None:  # this file itself when an id repeats in it (an article title used twice)
                clashes.append((document.doc_id, other))
                continue
            origin[document.doc_id] = file
            accepted.append(document)
        if not clashes:
            return accepted, None
        doc_id, other = clashes[0]
        more = f" and {len(clashes) - 1} more" if len(clashes) > 1 else ""
        source = "earlier in this file" if other == file else f"from {other}"
        return accepted, f"document id {doc_id!r}{more} already comes {source}; skipped (rename the article or the file)"

    def _write(self, pending: list[tuple[Document, bool, str]], report: IngestReport) -> bool:
        if not pending:
            return False
        chunker = self._chunker()
        chunks: list[Chunk] = []
        for document, _, _ in pending:
            chunks.extend(chunker.chunk(document))
        vectors = self._embedder().encode([embedding_text(c) for c in chunks])
        result = self.store.upsert(chunks, vectors)
        failed_docs = {f.split("::", 1)[0] for f in result.failed}
        for document, existed, shown in pending:
            if document.doc_id in failed_docs:
                report.failures[shown] = "the store rejected some chunks"
            elif existed:
                report.updated += 1
            else:
                report.added += 1
        report.chunks += result.written
        return True

