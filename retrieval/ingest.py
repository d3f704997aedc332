"""Incremental ingest: load, hash, skip unchanged, chunk and embed changed, replace, prune.

A document's content hash is stored on each of its chunks; an unchanged document costs a
file read and a hash, never an embedding, which is what makes re-ingest cheap. A corrupt
file is reported by name and skipped, and its already stored documents are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.chunking import Chunker, document_hash, embedding_text
from retrieval.embedder import Embedder
from retrieval.loaders import check_paths, discover, load_file, unsupported_in
from retrieval.errors import CorruptFile, UnsupportedFile
from retrieval.store.base import ChunkStore
from retrieval.types import Chunk, Document

Progress = Callable[[int, int, str], None]  # (files done, files total, current file name)
_BATCH_CHUNKS = 256


@dataclass
class IngestReport:
    files: int = 0
    added: int = 0
    updated: int = 0
    skipped: int = 0
    removed: int = 0
    chunks: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # file name -> reason
    ignored: int = 0  # files in the folders whose type no loader reads
    seconds: float = 0.0

    @property
    def documents(self) -> int:
        return self.added + self.updated + self.skipped

    def summary(self) -> str:
        return (
            f"{self.files} files, {self.documents} documents: {self.added} added, {self.updated} updated, "
            f"{self.skipped} unchanged, {self.removed} removed; {self.chunks} chunks written; {len(self.failures)} failed"
            + (f"; {self.ignored} files of unsupported types ignored" if self.ignored else "")
        )


def source_file(location: str, doc_id: str) -> str:
    """The file a stored document came from (SQuAD documents live at ``file#doc_id``)."""
    suffix = f"#{doc_id}"
    return location[: -len(suffix)] if location.endswith(suffix) and location != doc_id else location


def _under(file: str, roots: list[Path]) -> bool:
    path = Path(file)
    return any(path == root or root in path.parents for root in roots)


class Ingestor:
    def __init__(self, store: ChunkStore, embedder: Callable[[], Embedder], chunker: Callable[[], Chunker]) -> None:
        self.store = store
        self._embedder = embedder
        self._chunker = chunker

    def ingest(self, paths: list[Path], progress: Progress | None = None, prune: bool = False) -> IngestReport:
        import time

        started = time.perf_counter()
        roots = check_paths(paths)
        files = list(discover(roots))
        report = IngestReport(files=len(files), ignored=len(list(unsupported_in(roots))))
        stored = self.store.document_hashes()
        seen: set[str] = set()
        failed_files: set[str] = set()
        pending: list[tuple[Document, bool]] = []
        pending_chunks = 0
        changed = False

        for done, (file, _root) in enumerate(files, start=1):
            try:
                documents = load_file(file)
            except (CorruptFile, UnsupportedFile) as error:
                report.failures[file.name] = str(error).removeprefix(f"{file.name}: ")
                failed_files.add(str(file))
                documents = []
            for document in documents:
                if document.doc_id in seen:
                    continue
                seen.add(document.doc_id)
                previous = stored.get(document.doc_id)
                if previous is not None and previous[0] == document_hash(document):
                    report.skipped += 1
                    continue
                pending.append((document, previous is not None))
                pending_chunks += max(1, len(document.text) // 600)
                if pending_chunks >= _BATCH_CHUNKS:
                    changed |= self._write(pending, report)
                    pending, pending_chunks = [], 0
            if progress:
                progress(done, len(files), file.name)
        changed |= self._write(pending, report)

        if prune:
            gone = [
                doc_id
                for doc_id, (_, location) in stored.items()
                if doc_id not in seen
                and _under(source_file(location, doc_id), roots)
                and source_file(location, doc_id) not in failed_files
            ]
            if gone:
                self.store.delete_documents(gone)
                report.removed = len(gone)
                changed = True
        if changed:
            self.store.finish_ingest()
        report.seconds = time.perf_counter() - started
        return report

    def _write(self, pending: list[tuple[Document, bool]], report: IngestReport) -> bool:
        if not pending:
            return False
        chunker = self._chunker()
        chunks: list[Chunk] = []
        for document, _ in pending:
            chunks.extend(chunker.chunk(document))
        vectors = self._embedder().encode([embedding_text(c) for c in chunks])
        result = self.store.upsert(chunks, vectors)
        failed_docs = {f.split("::", 1)[0] for f in result.failed}
        for document, existed in pending:
            if document.doc_id in failed_docs:
                report.failures[Path(source_file(document.location, document.doc_id)).name] = "the store rejected some chunks"
            elif existed:
                report.updated += 1
            else:
                report.added += 1
        report.chunks += result.written
        return True
