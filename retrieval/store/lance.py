"""Embedded LanceDB backend (the default): one table per tenant under ``store_dir``, no server.

Pinned to lancedb 0.40: native BM25 full-text indexes on ``title`` and ``text`` queried with a
title-boosted multi-match, flat cosine search over the stored (normalized) vectors, and the
shared relative-score fusion. Rows added after the last index build are still searched.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from bot.observability.log_format import first_line
from retrieval.errors import EmptyKnowledgeBase, StoreUnavailable
from retrieval.hashing import content_hash
from retrieval.store.base import TITLE_BOOST, UpsertReport, relative_score_fusion
from retrieval.types import Chunk, Hit

log = logging.getLogger(__name__)

_TEXT_FIELDS = ["chunk_id", "doc_id", "title", "location", "section", "text", "parent_id", "parent_text", "content_hash", "updated"]
_DELETE_BATCH = 400


def table_name(tenant: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_]", "_", tenant)
    return f"chunks_{safe}" if safe == tenant else f"chunks_{safe}_{content_hash(tenant)[:8]}"


# A running bot must see what `ragbot ingest` (another process) wrote without a restart;
# checking the table's manifest at most this often keeps that cheap on the query path.
READ_CONSISTENCY = timedelta(seconds=2)
# Every ingest adds table versions and rewrites the keyword index; nothing removed the old ones
# (10 small re-ingests took a 4 MB store to 11 MB and 35 data files). Versions older than this
# are deleted after an ingest; the run's own are kept, so a reader never loses the one it uses.
KEEP_OLD_VERSIONS = timedelta(minutes=5)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _check_not_a_file(directory: Path) -> None:
    """A store path under a file (``data_dir`` set to a file) is a bad setting, not an empty store."""
    for path in (directory, *directory.parents):
        if path.exists():
            if not path.is_dir():
                raise StoreUnavailable(f"{path} is a file, not a folder (check data_dir)")
            return


class LanceStore:
    def __init__(self, directory: Path, tenant: str, max_vector_distance: float | None = None) -> None:
        self.directory = Path(directory)
        self.tenant = tenant
        self.max_vector_distance = max_vector_distance
        self.name = table_name(tenant)
        self._db = None
        self._table = None
        self._first_write: float | None = None  # monotonic time this object first changed the table
        self._version_before: int | None = None  # the version readers used until then

    # --- connection ---------------------------------------------------------------
    def _connect(self):
        if self._db is None:
            import lancedb

            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._db = lancedb.connect(str(self.directory), read_consistency_interval=READ_CONSISTENCY)
            except OSError as error:
                raise StoreUnavailable(f"cannot open the LanceDB store at {self.directory}: {error.strerror or error}") from None
        return self._db

    def _open(self, create_dim: int | None = None):
        if self._table is not None:
            return self._table
        if create_dim is None and not self.directory.is_dir():
            _check_not_a_file(self.directory)
            return None  # reading a store that was never written: empty, and nothing created
        db = self._connect()
        if self.name in db.list_tables().tables:
            self._table = db.open_table(self.name)
        elif create_dim is not None:
            self._table = db.create_table(self.name, schema=self._schema(create_dim))
        return self._table

    @staticmethod
    def _schema(dim: int):
        import pyarrow as pa

        fields = [pa.field(name, pa.string()) for name in _TEXT_FIELDS]
        fields.append(pa.field("vector", pa.list_(pa.float32(), dim)))
        return pa.schema(fields)

    def _require(self):
        table = self._open()
        if table is None or table.count_rows() == 0:
            raise EmptyKnowledgeBase(self.tenant)
        return table

    # --- writing ------------------------------------------------------------------
    def count(self) -> int:
        table = self._open()
        return 0 if table is None else table.count_rows()

    def kb_version(self) -> str:
        """Changes with every write, delete or index build (the answer cache keys on it)."""
        table = self._open()
        return "empty" if table is None else f"{self.name}:v{table.version}"

    def document_hashes(self) -> dict[str, tuple[str, str]]:
        table = self._open()
        if table is None or table.count_rows() == 0:
            return {}
        data = table.to_lance().to_table(columns=["doc_id", "content_hash", "location"]).to_pydict()
        return {d: (h, loc) for d, h, loc in zip(data["doc_id"], data["content_hash"], data["location"])}

    def upsert(self, chunks: list[Chunk], vectors: np.ndarray) -> UpsertReport:
        if not chunks:
            return UpsertReport()
        table = self._open(create_dim=int(vectors.shape[1]))
        columns = [name for name in _TEXT_FIELDS if name in table.schema.names]  # stores made before a field was added
        rows = [{**{name: getattr(c, name) or "" for name in columns}, "vector": v} for c, v in zip(chunks, vectors.astype(np.float32))]
        # One commit replaces the documents' chunks: a reader never sees them gone (delete, then
        # add, committed an empty knowledge base a searcher could land on for seconds).
        ids = sorted({c.doc_id for c in chunks})
        replaced = f"doc_id IN ({', '.join(_quote(i) for i in ids)})"
        self._wrote(table)
        (table.merge_insert("chunk_id").when_matched_update_all().when_not_matched_insert_all()
         .when_not_matched_by_source_delete(replaced).execute(rows))
        return UpsertReport(written=len(rows))

    def delete_documents(self, doc_ids: Iterable[str]) -> int:
        table = self._open()
        ids = sorted(set(doc_ids))
        if table is None or not ids:
            return 0
        before = table.count_rows()
        self._wrote(table)
        for start in range(0, len(ids), _DELETE_BATCH):
            batch = ids[start : start + _DELETE_BATCH]
            table.delete(f"doc_id IN ({', '.join(_quote(i) for i in batch)})")
        return before - table.count_rows()

    def clear(self) -> None:
        if not self.directory.is_dir():
            return
        db = self._connect()
        if self.name in db.list_tables().tables:
            db.drop_table(self.name)
        self._table = None
        self._unfinished_mark.unlink(missing_ok=True)

    def finish_ingest(self) -> None:
        from lancedb.index import FTS

        table = self._open()
        if table is None or table.count_rows() == 0:
            return
        for column in ("title", "text"):
            table.create_index(column, config=FTS(stem=True, remove_stop_words=True, ascii_folding=True), replace=True)
        self._compact(table)
        self._unfinished_mark.unlink(missing_ok=True)

    def unfinished(self) -> bool:
        return self._unfinished_mark.exists()

    @property
    def _unfinished_mark(self) -> Path:
        return self.directory / f"{self.name}.unfinished"

    def _wrote(self, table) -> None:
        if self._first_write is None:
            self._first_write = time.monotonic()
            self._version_before = table.version
            self._unfinished_mark.touch()  # until finish_ingest: its keyword index misses these rows

    def _compact(self, table) -> None:
        """Merge small data files and delete superseded versions (the store otherwise only grows).

        The version that was current before this run may be old enough to delete while a serving
        bot still reads it; readers move to the newest version within READ_CONSISTENCY, so the
        deletion then waits that long after this run's first write.
        """
        if self._first_write is not None and self._deletes_version_before(table):
            settle = self._first_write + 2 * READ_CONSISTENCY.total_seconds() + 1.0 - time.monotonic()
            if settle > 0:
                time.sleep(settle)
        self._first_write = self._version_before = None
        try:
            table.optimize(cleanup_older_than=KEEP_OLD_VERSIONS)
        except (OSError, RuntimeError, ValueError) as error:  # housekeeping: the ingest itself succeeded
            log.warning("could not compact %s (%s); the store works but keeps its old versions until the next ingest",
                        self.name, first_line(error))

    def _deletes_version_before(self, table) -> bool:
        for version in table.list_versions():  # timestamps are naive local times
            if version["version"] == self._version_before:
                return datetime.now() - version["timestamp"] > KEEP_OLD_VERSIONS - timedelta(seconds=30)
        return False

    # --- searching ----------------------------------------------------------------
    def _has_fts(self, table) -> bool:
        return any(getattr(index, "index_type", "") == "FTS" for index in table.list_indices())

    @contextmanager
    def _reading(self):
        """A store whose files vanish or break after it was opened (a moved data_dir, a full or
        failed disk) raises lance's RuntimeError/OSError: that is the store being unavailable,
        which the serving path retries and explains, not an unknown crash."""
        try:
            yield
        except (EmptyKnowledgeBase, StoreUnavailable):
            raise
        except (OSError, RuntimeError) as error:
            raise StoreUnavailable(f"cannot read the LanceDB store at {self.directory}: {type(error).__name__}: {first_line(error, 200)}") from error

    def keyword_search(self, query: str, k: int, vector: np.ndarray | None = None) -> list[Hit]:
        with self._reading():
            return self._keyword_search(query, k, vector)

    def _keyword_search(self, query: str, k: int, vector: np.ndarray | None) -> list[Hit]:
        from lancedb.query import MultiMatchQuery

        table = self._require()
        if not query.strip() or not self._has_fts(table):
            return []
        try:
            rows = (
                table.search(MultiMatchQuery(query, ["title", "text"], boosts=[TITLE_BOOST, 1.0]), query_type="fts")
                .limit(k)
                .to_list()
            )
        except (ValueError, RuntimeError) as error:  # a damaged index: say so, and search by vector alone
            log.warning("keyword search failed on %s (%s); answering from vector search only. Re-run `ragbot ingest` to rebuild the index",
                        self.name, type(error).__name__)
            return []
        return [self._hit(row, bm25=float(row["_score"]), vector=vector) for row in rows]

    def vector_search(self, vector: np.ndarray, k: int) -> list[Hit]:
        with self._reading():
            table = self._require()
            query = table.search(np.asarray(vector, dtype=np.float32)).distance_type("cosine")
            if self.max_vector_distance is not None:
                query = query.distance_range(upper_bound=self.max_vector_distance)
            rows = query.limit(k).to_list()
        return [self._hit(row, cosine=1.0 - float(row["_distance"])) for row in rows]

    def hybrid_search(self, query: str, vector: np.ndarray, k: int, alpha: float) -> list[Hit]:
        vector_hits = self.vector_search(vector, k) if alpha > 0 else []
        keyword_hits = self.keyword_search(query, k, vector=vector) if alpha < 1 else []
        return relative_score_fusion(vector_hits, keyword_hits, alpha, k)

    @staticmethod
    def _hit(row: dict, *, cosine: float | None = None, bm25: float | None = None, vector: np.ndarray | None = None) -> Hit:
        if cosine is None and vector is not None:
            cosine = float(np.dot(np.asarray(row["vector"], dtype=np.float32), vector))
        chunk = Chunk(**{name: row.get(name) or "" for name in _TEXT_FIELDS})
        return Hit(chunk=chunk, score=0.0, cosine=cosine, bm25=bm25)
