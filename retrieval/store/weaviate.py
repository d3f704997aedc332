"""Weaviate backend through weaviate-client v4, with the LanceDB store's semantics.

Self-provided vectors (cosine HNSW, no vectorizer module), BM25 over ``title^2`` and
``text``, hybrid with relativeScoreFusion and an explicit ``alpha``, an optional
``max_vector_distance``, deterministic uuid5 ids (re-ingest overwrites, never duplicates),
gRPC batch import that reports the objects it could not write, and one tenant per Slack
workspace (multi-tenancy). The fused score ranks; the absolute signals come from the
returned vectors (cosine, computed here) and the BM25 part of ``explain_score``.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Iterable
from urllib.parse import urlparse

import numpy as np

from bot.observability.log_format import first_line
from retrieval.errors import EmptyKnowledgeBase, StoreMisconfigured, StoreUnavailable
from retrieval.hashing import content_hash, stable_uuid
from retrieval.store.base import TITLE_BOOST, UpsertReport
from retrieval.types import Chunk, Hit

TEXT_PROPERTIES = ["chunk_id", "doc_id", "title", "location", "section", "text", "parent_id", "parent_text", "content_hash", "updated"]
SEARCHABLE = {"title", "text"}
QUERY_PROPERTIES = [f"title^{TITLE_BOOST:g}", "text"]
BATCH_SIZE = 200
FILLED_RECHECK_S = 60.0
MAX_DELETE_ROUNDS = 1000
_BM25_IN_EXPLAIN = re.compile(r"keyword,bm25.*?original score ([0-9.eE+-]+)", re.IGNORECASE | re.DOTALL)


def tenant_name(tenant: str) -> str:
    """Weaviate tenant names allow letters, digits, '-' and '_' (1-64 chars). A name that had to
    change gets a hash of the original, so 'acme.corp' and 'acme_corp' stay two tenants."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", tenant)
    if safe == tenant and 0 < len(tenant) <= 64:
        return tenant
    return f"{safe[:55]}_{content_hash(tenant)[:8]}"


# client errors that mean the server cannot be reached or is failing, not that the request was wrong
_OUTAGES = {"WeaviateConnectionError", "WeaviateTimeoutError", "WeaviateStartUpError", "WeaviateGRPCUnavailableError",
            "WeaviateRetryError", "WeaviateClosedClientError"}
# gRPC status in the message: "[UNAVAILABLE] ...", or the details text of a deadline ("Deadline Exceeded")
_GRPC_OUTAGE = re.compile(r"\b(UNAVAILABLE|DEADLINE[_ ]EXCEEDED)\b", re.IGNORECASE)


def is_outage(error: Exception) -> bool:
    """A Weaviate error the pipeline should treat as "store down" (retried, "try again later"):
    connection, timeout and start-up errors, 5xx answers, gRPC UNAVAILABLE or deadline exceeded
    (in any query error: a search's, delete_many's, the tenant listing's)."""
    if type(error).__name__ in _OUTAGES:
        return True
    import httpx

    if isinstance(error, httpx.TransportError):  # a dead keep-alive after a restart, a read cut short: the client passes these on as they are
        return True
    code = getattr(error, "status_code", None)
    if isinstance(code, int) and code >= 500:
        return True
    from weaviate.exceptions import WeaviateQueryError

    return isinstance(error, WeaviateQueryError) and bool(_GRPC_OUTAGE.search(str(error)))


def _total(collection) -> int:
    """How many objects a tenant's collection handle holds."""
    return int(collection.aggregate.over_all(total_count=True).total_count or 0)


MIN_SERVER = (1, 27)  # the oldest Weaviate this client speaks to


def check_server(client) -> None:
    """What the client's skipped start-up checks would have found, as errors retrying cannot fix:
    credentials refused, or a server too old. An unreachable server raises what the client
    raises (an outage)."""
    from weaviate.exceptions import AuthenticationFailedError, UnexpectedStatusCodeError

    try:
        meta = client.get_meta()
    except AuthenticationFailedError as error:
        raise StoreMisconfigured(f"Weaviate refused ragbot's credentials: {first_line(error, 200)}; check weaviate_api_key") from None
    except UnexpectedStatusCodeError as error:
        if error.status_code in (401, 403):
            raise StoreMisconfigured(f"Weaviate refused ragbot's credentials ({error.status_code}): check weaviate_api_key") from None
        raise
    version = str(meta.get("version") or "")
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:2])
    if len(parts) == 2 and parts < MIN_SERVER:
        raise StoreMisconfigured(f"Weaviate {version} is too old: ragbot needs {MIN_SERVER[0]}.{MIN_SERVER[1]} or later")


def _outage_is_unavailable(method):
    """Client errors raised after connecting (a restart, a network blip) become StoreUnavailable,
    like a failed connection, so searches are retried and the asker hears "try again later"."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as error:
            if not is_outage(error):
                raise
            self._forget_client()
            raise StoreUnavailable(f"Weaviate is unavailable: {type(error).__name__}: {first_line(error)}") from error

    return wrapper


def grpc_endpoint(http_host: str, settings) -> tuple[str, int]:
    """Where the client's gRPC channel goes: ``weaviate_grpc_host`` when set; on Weaviate Cloud
    (``*.weaviate.cloud``, ``*.weaviate.network``) the cluster's ``grpc-`` host on port 443, as the
    client's own ``connect_to_weaviate_cloud`` does; else the HTTP host and ``weaviate_grpc_port``."""
    port_given = "weaviate_grpc_port" in settings.model_fields_set
    if settings.weaviate_grpc_host:
        return settings.weaviate_grpc_host, settings.weaviate_grpc_port
    if http_host.endswith((".weaviate.cloud", ".weaviate.network")) and not http_host.startswith("grpc-"):
        return f"grpc-{http_host}", settings.weaviate_grpc_port if port_given else 443
    return http_host, settings.weaviate_grpc_port


def bm25_from_explain(explain: str | None) -> float | None:
    match = _BM25_IN_EXPLAIN.search(explain or "")
    return float(match.group(1)) if match else None


def collection_config(name: str) -> dict:
    """Keyword arguments for ``client.collections.create``: the schema both backends share."""
    from weaviate.classes.config import Configure, DataType, Property, Tokenization, VectorDistances

    properties = [
        Property(
            name=field,
            data_type=DataType.TEXT,
            tokenization=Tokenization.WORD if field in SEARCHABLE else Tokenization.FIELD,
            index_searchable=field in SEARCHABLE,
            index_filterable=field in {"doc_id", "chunk_id", "title"},
        )
        for field in TEXT_PROPERTIES
    ]
    return {
        "name": name,
        "properties": properties,
        "vector_config": Configure.Vectors.self_provided(
            vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE)
        ),
        "multi_tenancy_config": Configure.multi_tenancy(enabled=True, auto_tenant_creation=True, auto_tenant_activation=True),
        "inverted_index_config": Configure.inverted_index(bm25_k1=1.2, bm25_b=0.75),
    }


class WeaviateStore:
    def __init__(self, client_factory, collection: str, tenant: str, max_vector_distance: float | None = None) -> None:
        self._client_factory = client_factory
        self._client = None
        self.collection_name = collection
        self.tenant = tenant
        self.tenant_id = tenant_name(tenant)
        self.max_vector_distance = max_vector_distance
        self._connecting = threading.Lock()
        self._filled_at = float("-inf")  # when the tenant was last seen holding objects

    @classmethod
    def from_settings(cls, settings) -> "WeaviateStore":
        if not settings.weaviate_url:
            raise StoreUnavailable("store is 'weaviate' but weaviate_url is not set (RAGBOT_WEAVIATE_URL)")
        url = urlparse(settings.weaviate_url)
        if not url.hostname:
            raise StoreUnavailable(f"weaviate_url {settings.weaviate_url!r} is not a URL like http://host:8080")
        key = settings.weaviate_api_key.get_secret_value() if settings.weaviate_api_key else None
        grpc_host, grpc_port = grpc_endpoint(url.hostname, settings)

        def connect():
            import weaviate
            from weaviate.classes.init import AdditionalConfig, Auth, Timeout

            secure = url.scheme == "https"
            client = weaviate.connect_to_custom(
                http_host=url.hostname, http_port=url.port or (443 if secure else 8080), http_secure=secure,
                grpc_host=grpc_host, grpc_port=grpc_port, grpc_secure=secure,
                auth_credentials=Auth.api_key(key) if key else None,
                additional_config=AdditionalConfig(timeout=Timeout(init=10, query=30, insert=120)),
                # the client's own start-up checks also ask PyPI for its latest version: a self-hosted
                # bot must not call out, and a filtered network stalled every connect; ragbot checks
                # what matters itself
                skip_init_checks=True,
            )
            try:
                check_server(client)
            except Exception:
                client.close()
                raise
            return client

        return cls(connect, settings.weaviate_collection, settings.tenant, getattr(settings, "max_vector_distance", None))

    # --- connection ---------------------------------------------------------------
    @property
    def client(self):
        with self._connecting:  # a retry while the first connect is still under way waits for it
            if self._client is None:
                try:
                    self._client = self._client_factory()
                except StoreMisconfigured:  # retrying cannot help: said as it is
                    raise
                except Exception as error:  # connection errors come in many classes
                    raise StoreUnavailable(f"cannot reach Weaviate: {type(error).__name__}: {error}") from None
            return self._client

    def _forget_client(self) -> None:
        """Drop a client that hit an outage, so the next call connects afresh."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail too
                pass

    def _collection(self, create: bool = False):
        collections = self.client.collections
        if not collections.exists(self.collection_name):
            if not create:
                return None
            try:
                collections.create(**collection_config(self.collection_name))
            except Exception:
                # two instances ingesting for the first time: the other one created it first
                if not collections.exists(self.collection_name):
                    raise
        collection = collections.get(self.collection_name)
        if create:
            from weaviate.classes.tenants import Tenant

            if not collection.tenants.exists(self.tenant_id):
                try:
                    collection.tenants.create([Tenant(name=self.tenant_id)])
                except Exception:
                    if not collection.tenants.exists(self.tenant_id):
                        raise
        return collection.with_tenant(self.tenant_id)

    def _tenant_exists(self) -> bool:
        collections = self.client.collections
        return collections.exists(self.collection_name) and collections.get(self.collection_name).tenants.exists(self.tenant_id)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @_outage_is_unavailable
    def drop_tenant(self) -> None:
        """Remove this tenant and its objects (isolated evaluation knowledge bases)."""
        if self._tenant_exists():
            self.client.collections.get(self.collection_name).tenants.remove([self.tenant_id])

    def clear(self) -> None:
        self.drop_tenant()

    @_outage_is_unavailable
    def drop_collection(self) -> None:
        """Delete the whole collection, every tenant included (tests and resets)."""
        self.client.collections.delete(self.collection_name)

    # --- writing ------------------------------------------------------------------
    @_outage_is_unavailable
    def count(self) -> int:
        if not self._tenant_exists():
            return 0
        return _total(self._collection())

    @_outage_is_unavailable
    def document_hashes(self) -> dict[str, tuple[str, str]]:
        if not self._tenant_exists():
            return {}
        result: dict[str, tuple[str, str]] = {}
        for obj in self._collection().iterator(return_properties=["doc_id", "content_hash", "location"]):
            props = obj.properties
            seen = result.get(props["doc_id"])
            # chunks of two versions (a write cut off by an outage after overwriting some of them):
            # no hash matches, so the next ingest writes the document again
            digest = props["content_hash"] if seen is None or seen[0] == props["content_hash"] else ""
            result[props["doc_id"]] = (digest, props["location"])
        return result

    def data_objects(self, chunks: list[Chunk], vectors: np.ndarray) -> list:
        from weaviate.classes.data import DataObject

        return [
            DataObject(
                properties={name: getattr(chunk, name) or "" for name in TEXT_PROPERTIES},
                uuid=stable_uuid(self.tenant, chunk.chunk_id),
                vector=[float(x) for x in vector],
            )
            for chunk, vector in zip(chunks, vectors)
        ]

    @_outage_is_unavailable
    def upsert(self, chunks: list[Chunk], vectors: np.ndarray) -> UpsertReport:
        """Write the chunks, then delete what the old versions of their documents had beyond them.

        Object ids are uuid5 of the chunk id, so writing overwrites the chunks a new version
        shares with the old one in place: questions asked during a re-ingest still find the
        document (deleting first left it missing until the write ended, for good if the write failed).
        """
        if not chunks:
            return UpsertReport()
        collection = self._collection(create=True)
        report = UpsertReport()
        objects = self.data_objects(chunks, vectors)
        failed: set[int] = set()
        for start in range(0, len(objects), BATCH_SIZE):
            batch = objects[start : start + BATCH_SIZE]
            try:
                result = collection.data.insert_many(batch)
            except Exception as error:  # the whole batch failed (e.g. WeaviateInsertManyAllFailedError)
                if is_outage(error):
                    raise
                failed.update(range(start, start + len(batch)))
                # the reason (e.g. "vector lengths don't match" after a model change) is what to fix
                report.failed.extend(f"{chunks[start + i].chunk_id}: {type(error).__name__}: {first_line(error, 200)}" for i in range(len(batch)))
                continue
            for index, error in (getattr(result, "errors", {}) or {}).items():
                failed.add(start + index)
                report.failed.append(f"{chunks[start + index].chunk_id}: {getattr(error, 'message', error)}")
        # a half-written document would carry the new hash and count as unchanged on the next
        # run, so it would never be repaired: what was written of it goes, and the next run retries
        broken = {chunks[i].doc_id for i in failed}
        if broken:
            self.delete_documents(broken)
        written: dict[str, list[str]] = {}
        for chunk in chunks:
            if chunk.doc_id not in broken:
                written.setdefault(chunk.doc_id, []).append(chunk.chunk_id)
        for doc_id, chunk_ids in written.items():
            self._delete_stale(collection, doc_id, chunk_ids)
        report.written = sum(len(ids) for ids in written.values())
        return report

    @staticmethod
    def _delete_stale(collection, doc_id: str, keep: list[str]) -> None:
        """Delete the document's chunks that are not in ``keep`` (its old version's extra pieces).
        Plain equal / not-equal filters: ``contains_none`` needs a newer server than the client does."""
        from weaviate.classes.query import Filter

        where = Filter.all_of([Filter.by_property("doc_id").equal(doc_id),
                               *(Filter.by_property("chunk_id").not_equal(chunk_id) for chunk_id in keep)])
        for _ in range(MAX_DELETE_ROUNDS):
            result = collection.data.delete_many(where=where)
            done = int(getattr(result, "successful", 0) or 0)
            if done == 0 or int(getattr(result, "matches", 0) or 0) <= done:
                break

    @_outage_is_unavailable
    def delete_documents(self, doc_ids: Iterable[str]) -> int:
        from weaviate.classes.query import Filter

        ids = sorted(set(doc_ids))
        if not ids or not self._tenant_exists():
            return 0
        deleted = 0
        collection = self._collection()
        for start in range(0, len(ids), BATCH_SIZE):
            where = Filter.by_property("doc_id").contains_any(ids[start : start + BATCH_SIZE])
            for _ in range(MAX_DELETE_ROUNDS):  # one request deletes at most QUERY_MAXIMUM_RESULTS objects
                result = collection.data.delete_many(where=where)
                done = int(getattr(result, "successful", 0) or 0)
                deleted += done
                if done == 0 or int(getattr(result, "matches", 0) or 0) <= done:
                    break
        return deleted

    def finish_ingest(self) -> None:
        """Weaviate indexes on write; nothing to rebuild."""

    def unfinished(self) -> bool:
        return False

    # --- searching ----------------------------------------------------------------
    def _require(self):
        """The tenant's collection, or EmptyKnowledgeBase as LanceDB says it: no tenant, or a tenant
        emptied (a prune of everything, a rebuild whose writes all failed). A count is asked at
        most once a minute while the tenant has objects."""
        if not self._tenant_exists():
            raise EmptyKnowledgeBase(self.tenant)
        collection = self._collection()
        if time.monotonic() - self._filled_at > FILLED_RECHECK_S:
            if not _total(collection):
                raise EmptyKnowledgeBase(self.tenant)
            self._filled_at = time.monotonic()
        return collection

    @_outage_is_unavailable
    def keyword_search(self, query: str, k: int) -> list[Hit]:
        from weaviate.classes.query import MetadataQuery

        response = self._require().query.bm25(
            query=query, query_properties=QUERY_PROPERTIES, limit=k, return_metadata=MetadataQuery(score=True)
        )
        return [self._hit(obj, bm25=float(obj.metadata.score or 0.0)) for obj in response.objects]

    @_outage_is_unavailable
    def vector_search(self, vector: np.ndarray, k: int) -> list[Hit]:
        from weaviate.classes.query import MetadataQuery

        response = self._require().query.near_vector(
            near_vector=[float(x) for x in vector], limit=k, distance=self.max_vector_distance, return_metadata=MetadataQuery(distance=True)
        )
        return [self._hit(obj, cosine=1.0 - float(obj.metadata.distance)) for obj in response.objects]

    @_outage_is_unavailable
    def hybrid_search(self, query: str, vector: np.ndarray, k: int, alpha: float) -> list[Hit]:
        from weaviate.classes.query import HybridFusion, MetadataQuery

        response = self._require().query.hybrid(
            query=query,
            vector=[float(x) for x in vector],
            alpha=alpha,
            fusion_type=HybridFusion.RELATIVE_SCORE,
            query_properties=QUERY_PROPERTIES,
            max_vector_distance=self.max_vector_distance,
            limit=k,
            include_vector=True,
            return_metadata=MetadataQuery(score=True, explain_score=True),
        )
        query_vector = np.asarray(vector, dtype=np.float32)
        hits = []
        for obj in response.objects:
            stored = obj.vector.get("default") if isinstance(obj.vector, dict) else obj.vector
            cosine = float(np.dot(np.asarray(stored, dtype=np.float32), query_vector)) if stored is not None else None
            hit = self._hit(obj, cosine=cosine, bm25=bm25_from_explain(obj.metadata.explain_score))
            hit.score = float(obj.metadata.score or 0.0)
            hits.append(hit)
        return hits

    @staticmethod
    def _hit(obj, *, cosine: float | None = None, bm25: float | None = None) -> Hit:
        props = obj.properties
        chunk = Chunk(**{name: str(props.get(name) or "") for name in TEXT_PROPERTIES})
        return Hit(chunk=chunk, score=0.0, cosine=cosine, bm25=bm25)
