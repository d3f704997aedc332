"""Weaviate request construction, checked on the client's own messages (no server needed).

An unconnected weaviate-client v4 client is used; its gRPC/REST calls are intercepted just
before they would go on the wire, so what is asserted is exactly what a server would get.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

weaviate = pytest.importorskip("weaviate")

from retrieval.hashing import stable_uuid  # noqa: E402
from retrieval.store.weaviate import WeaviateStore, bm25_from_explain, collection_config, tenant_name  # noqa: E402
from retrieval.types import Chunk  # noqa: E402


class _Sent(Exception):
    pass


# the oldest server this client connects to, and one recent enough for the newer request fields
SERVER_VERSIONS = [(1, 27, 0), (1, 36, 6)]


@pytest.fixture(params=SERVER_VERSIONS, ids=lambda v: ".".join(map(str, v)))
def wire(request):
    """An unconnected client, told it speaks to a server of a given version (requests differ by
    version), whose outgoing requests land in ``wire.sent``."""
    from weaviate.connect import ConnectionParams
    from weaviate.proto.v1 import batch_delete_pb2, search_get_pb2  # the versions this client speaks
    from weaviate.util import _ServerVersion

    client = weaviate.WeaviateClient(connection_params=ConnectionParams.from_url("http://localhost:8080", 50051), skip_init_checks=True)
    conn = client._connection
    conn._weaviate_version = _ServerVersion(*request.param)

    class Wire:
        sent: dict = {}
        batch_errors: dict = {}
        order: list = []  # the kinds of request, in the order sent

    def search(request):
        Wire.sent["search"] = request
        return search_get_pb2.SearchReply()

    def batch(request, timeout, max_retries):
        Wire.sent.setdefault("batch", []).append(request)
        Wire.order.append("batch")
        return dict(Wire.batch_errors)

    def delete(request):
        Wire.sent["delete"] = request
        Wire.order.append("delete")
        return batch_delete_pb2.BatchDeleteReply(successful=0, matches=0)

    def post(*args, **kwargs):
        Wire.sent["post"] = kwargs
        raise _Sent()

    conn.grpc_search, conn.grpc_batch_objects, conn.grpc_batch_delete, conn.post = search, batch, delete, post
    Wire.client = client
    return Wire


def _store(wire, tenant="T024BE7LD") -> WeaviateStore:
    store = WeaviateStore(lambda: wire.client, "RagbotChunk", tenant, max_vector_distance=0.6)
    store._tenant_exists = lambda: True
    store._filled_at = float("inf")  # known to hold objects: no count asked
    store._collection = lambda create=False: wire.client.collections.get("RagbotChunk").with_tenant(store.tenant_id)
    return store


def _floats(raw: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def test_hybrid_request_is_relative_score_fusion_with_explicit_alpha_and_title_boost(wire) -> None:
    store = _store(wire)
    assert store.hybrid_search("vpn token expired", np.array([0.5, -0.25], dtype=np.float32), k=7, alpha=0.35) == []
    request = wire.sent["search"]
    assert request.collection == "RagbotChunk" and request.tenant == "T024BE7LD" and request.limit == 7
    hybrid = request.hybrid_search
    assert hybrid.query == "vpn token expired"
    assert list(hybrid.properties) == ["title^2", "text"]
    assert (hybrid.alpha_param if hybrid.use_alpha_param else hybrid.alpha) == pytest.approx(0.35)
    assert hybrid.fusion_type == type(hybrid).FusionType.FUSION_TYPE_RELATIVE_SCORE
    assert hybrid.vector_distance == pytest.approx(0.6)
    assert _floats(hybrid.vector_bytes) == [0.5, -0.25]  # self-provided vector, no vectorizer
    assert request.metadata.vector and request.metadata.score and request.metadata.explain_score


def test_keyword_and_vector_requests(wire) -> None:
    store = _store(wire)
    store.keyword_search("annual leave", k=3)
    bm25 = wire.sent["search"].bm25_search
    assert bm25.query == "annual leave" and list(bm25.properties) == ["title^2", "text"]
    store.vector_search(np.array([1.0, 0.0], dtype=np.float32), k=4)
    request = wire.sent["search"]
    assert request.limit == 4 and request.near_vector.distance == pytest.approx(0.6) and request.tenant == "T024BE7LD"
    near = request.near_vector
    assert _floats(near.vectors[0].vector_bytes if len(near.vectors) else near.vector_bytes) == [1.0, 0.0]


def _chunk(doc: str, n: int) -> Chunk:
    return Chunk(chunk_id=f"{doc}::p0::c{n}", doc_id=doc, title="Leave", location=f"/kb/{doc}", text=f"text {n}",
                 parent_id=f"{doc}::p0", parent_text="parent", content_hash="abc")


def test_batch_import_uses_uuid5_ids_tenant_and_vectors_and_reports_failed_objects(wire) -> None:
    store = _store(wire)
    wire.batch_errors = {1: "vector lengths don't match"}
    chunks = [_chunk("leave.md", 0), _chunk("leave.md", 1)]
    report = store.upsert(chunks, np.array([[0.1, 0.2], [0.3, 0.4]], dtype=np.float32))
    # the document is not left half-written (it would count as unchanged next run): its accepted chunk goes too
    assert report.written == 0 and report.failed == ["leave.md::p0::c1: vector lengths don't match"]
    [request] = wire.sent["batch"]
    objects = list(request.objects)
    assert [o.uuid for o in objects] == [stable_uuid("T024BE7LD", c.chunk_id) for c in chunks]
    assert all(o.tenant == "T024BE7LD" and o.collection == "RagbotChunk" for o in objects)
    assert _floats(objects[0].vector_bytes) == pytest.approx([0.1, 0.2])
    fields = objects[0].properties.non_ref_properties.fields
    assert fields["doc_id"].string_value == "leave.md" and fields["content_hash"].string_value == "abc"
    assert wire.order == ["batch", "delete"] and "leave.md" in str(wire.sent["delete"])  # ... and deleted


def test_a_changed_document_is_overwritten_in_place_then_its_extra_old_chunks_deleted(wire) -> None:
    """Deleting first left the document unsearchable during the write (and gone if it failed)."""
    store = _store(wire)
    chunks = [_chunk("leave.md", 0), _chunk("leave.md", 1)]
    report = store.upsert(chunks, np.array([[0.1, 0.2], [0.3, 0.4]], dtype=np.float32))
    assert report.written == 2 and not report.failed
    assert wire.order == ["batch", "delete"]
    where = str(wire.sent["delete"].filters)
    assert "leave.md" in where and "OPERATOR_EQUAL" in where
    assert where.count("OPERATOR_NOT_EQUAL") == 2 and all(c.chunk_id in where for c in chunks)


def test_same_chunk_same_uuid_and_tenants_differ() -> None:
    assert stable_uuid("T1", "a::p0::c0") == stable_uuid("T1", "a::p0::c0") != stable_uuid("T2", "a::p0::c0")
    assert tenant_name("T024BE7LD") == "T024BE7LD"  # a valid name is kept as it is
    assert tenant_name("team one/ø").startswith("team_one___") and tenant_name("acme.corp") != tenant_name("acme_corp")
    assert tenant_name("x" * 70) != tenant_name("x" * 64 + "yyyyyy") and len(tenant_name("x" * 70)) <= 64


def test_collection_schema_sent_to_the_server(wire) -> None:
    with pytest.raises(_Sent):
        wire.client.collections.create(**collection_config("RagbotChunk"))
    body = wire.sent["post"]["weaviate_object"]
    assert body["class"] == "RagbotChunk"
    assert body["multiTenancyConfig"]["enabled"] is True
    vector = body["vectorConfig"]["default"]
    assert vector["vectorizer"] == {"none": {}} and vector["vectorIndexConfig"]["distance"] == "cosine"
    searchable = {p["name"] for p in body["properties"] if p["indexSearchable"]}
    assert searchable == {"title", "text"}


def test_bm25_is_read_from_explain_score() -> None:
    explain = "(Result Set keyword,bm25) Document 1a: original score 3.4157, normalized score: 0.7\n(Result Set vector,hybridVector) Document 1a: original score 0.81, normalized score: 0.3"
    assert bm25_from_explain(explain) == pytest.approx(3.4157)
    assert bm25_from_explain("(Result Set vector,hybridVector) Document 1a: original score 0.81") is None


def test_missing_url_is_a_clear_error(make_settings) -> None:
    from retrieval.errors import StoreUnavailable
    from retrieval.factory import build_store

    with pytest.raises(StoreUnavailable, match="weaviate_url"):
        build_store(make_settings(store="weaviate"))


def test_deletes_repeat_until_the_server_has_deleted_every_match(monkeypatch) -> None:
    """One delete_many removes at most QUERY_MAXIMUM_RESULTS objects (10,000 by default)."""
    from types import SimpleNamespace

    from retrieval.store.weaviate import WeaviateStore

    left = [25_000]

    def delete_many(where):
        done = min(left[0], 10_000)
        matches, left[0] = left[0], left[0] - done
        return SimpleNamespace(matches=matches, successful=done)

    store = WeaviateStore(lambda: None, "RagbotChunk", "T1")
    monkeypatch.setattr(store, "_tenant_exists", lambda: True)
    monkeypatch.setattr(store, "_collection", lambda create=False: SimpleNamespace(data=SimpleNamespace(delete_many=delete_many)))
    assert store.delete_documents(["big.md"]) == 25_000 and left[0] == 0


def _failing_store(error: Exception) -> tuple[WeaviateStore, list]:
    """A store whose searches raise ``error``; ``closed`` records the clients it let go of."""
    from types import SimpleNamespace

    closed = []

    def hybrid(**kwargs):
        raise error

    client = SimpleNamespace(close=lambda: closed.append("client"))
    store = WeaviateStore(lambda: client, "RagbotChunk", "T1")
    store._tenant_exists = lambda: True
    store._filled_at = float("inf")  # known to hold objects: no count asked
    store._collection = lambda create=False: SimpleNamespace(query=SimpleNamespace(hybrid=hybrid))
    store._client = client
    return store, closed


def test_an_outage_after_connecting_is_store_unavailable_and_the_client_is_renewed() -> None:
    """A restart or network blip mid-run must read as "store down" (retried, "try again later"),
    not as an unknown error."""
    from weaviate.exceptions import WeaviateConnectionError, WeaviateQueryError

    from retrieval.errors import StoreUnavailable

    from weaviate.exceptions import WeaviateDeleteManyError

    for error in (WeaviateConnectionError("connection refused"), WeaviateQueryError("<AioRpcError: StatusCode.UNAVAILABLE>", "GRPC"),
                  WeaviateQueryError("Deadline Exceeded", "GRPC search"), WeaviateDeleteManyError("[UNAVAILABLE] connection reset")):
        store, closed = _failing_store(error)
        with pytest.raises(StoreUnavailable, match="Weaviate is unavailable"):
            store.hybrid_search("vpn", np.zeros(2, dtype=np.float32), 5, 0.5)
        assert closed == ["client"] and store._client is None


def test_a_wrong_request_is_not_an_outage() -> None:
    from weaviate.exceptions import WeaviateQueryError

    store, closed = _failing_store(WeaviateQueryError("no such property 'titel'", "GRPC"))
    with pytest.raises(WeaviateQueryError):
        store.hybrid_search("vpn", np.zeros(2, dtype=np.float32), 5, 0.5)
    assert not closed


def test_a_collection_another_instance_just_created_is_used() -> None:
    """Two instances ingesting first at the same moment: the loser's create fails, it goes on."""
    from types import SimpleNamespace

    created = []
    tenants = {"T1"}
    handle = SimpleNamespace(tenants=SimpleNamespace(exists=lambda name: name in tenants), with_tenant=lambda name: ("handle", name))

    def create(**kwargs):
        created.append(kwargs["name"])
        raise RuntimeError("class name 'RagbotChunk' already exists")

    exists = iter([False, True])
    collections = SimpleNamespace(exists=lambda name: next(exists), create=create, get=lambda name: handle)
    store = WeaviateStore(lambda: SimpleNamespace(collections=collections), "RagbotChunk", "T1")
    assert store._collection(create=True) == ("handle", "T1") and created == ["RagbotChunk"]


def test_grpc_goes_where_the_server_listens(make_settings) -> None:
    """Weaviate Cloud serves gRPC on grpc-<cluster>:443; a single ingress needs its own host."""
    from retrieval.store.weaviate import grpc_endpoint

    assert grpc_endpoint("weaviate", make_settings(store="weaviate", weaviate_url="http://weaviate:8080")) == ("weaviate", 50051)
    cloud = make_settings(store="weaviate", weaviate_url="https://abc.c0.europe-west3.gcp.weaviate.cloud")
    assert grpc_endpoint("abc.c0.europe-west3.gcp.weaviate.cloud", cloud) == ("grpc-abc.c0.europe-west3.gcp.weaviate.cloud", 443)
    ingress = make_settings(store="weaviate", weaviate_url="https://kb.example.com", weaviate_grpc_host="grpc.kb.example.com",
                            weaviate_grpc_port=443)
    assert grpc_endpoint("kb.example.com", ingress) == ("grpc.kb.example.com", 443)


def test_a_document_left_with_chunks_of_two_versions_counts_as_changed() -> None:
    """A write cut off by an outage after overwriting some chunks: the next ingest must redo it."""
    from types import SimpleNamespace

    rows = [("a.md", "new"), ("a.md", "old"), ("a.md", "new"), ("b.md", "same"), ("b.md", "same")]
    objects = [SimpleNamespace(properties={"doc_id": d, "content_hash": h, "location": f"/kb/{d}"}) for d, h in rows]
    store = WeaviateStore(lambda: None, "RagbotChunk", "T1")
    store._tenant_exists = lambda: True
    store._filled_at = float("inf")  # known to hold objects: no count asked
    store._collection = lambda create=False: SimpleNamespace(iterator=lambda return_properties: iter(objects))
    assert store.document_hashes() == {"a.md": ("", "/kb/a.md"), "b.md": ("same", "/kb/b.md")}


def test_a_connection_cut_after_connecting_is_an_outage() -> None:
    """A dead keep-alive after a Weaviate restart reaches ragbot as httpx's own error: it was not
    retried, and the asker got "something went wrong" instead of "try again later"."""
    import httpx

    from retrieval.store.weaviate import is_outage

    for error in (httpx.RemoteProtocolError("Server disconnected"), httpx.ReadError("reset"), httpx.ConnectTimeout("slow")):
        assert is_outage(error)
    assert not is_outage(ValueError("no such property"))


def test_credentials_refused_or_a_server_too_old_are_settings_to_fix_not_an_outage() -> None:
    from types import SimpleNamespace

    import httpx
    from weaviate.exceptions import UnexpectedStatusCodeError

    from retrieval.errors import StoreMisconfigured
    from retrieval.store.weaviate import check_server

    def refusing():
        raise UnexpectedStatusCodeError("meta", httpx.Response(401, request=httpx.Request("GET", "http://w/v1/meta")))

    with pytest.raises(StoreMisconfigured, match="weaviate_api_key"):
        check_server(SimpleNamespace(get_meta=refusing))
    with pytest.raises(StoreMisconfigured, match="1.25.3 is too old"):
        check_server(SimpleNamespace(get_meta=lambda: {"version": "1.25.3"}))
    check_server(SimpleNamespace(get_meta=lambda: {"version": "1.32.0"}))  # fine

    def misconfigured():
        raise StoreMisconfigured("Weaviate 1.25.3 is too old")

    with pytest.raises(StoreMisconfigured):  # not turned into "cannot reach Weaviate" (retried for ever)
        WeaviateStore(misconfigured, "RagbotChunk", "T1").client


def test_an_emptied_tenant_is_an_empty_knowledge_base_as_on_lancedb() -> None:
    """A prune of everything left an existing, empty tenant: searches said nothing was found
    instead of "the knowledge base is empty"."""
    from types import SimpleNamespace

    from retrieval.errors import EmptyKnowledgeBase

    total = {"n": 0}
    handle = SimpleNamespace(aggregate=SimpleNamespace(over_all=lambda total_count: SimpleNamespace(total_count=total["n"])))
    store = WeaviateStore(lambda: None, "RagbotChunk", "T1")
    store._tenant_exists = lambda: True
    store._collection = lambda create=False: handle
    with pytest.raises(EmptyKnowledgeBase):
        store._require()
    total["n"] = 3
    assert store._require() is handle
    total["n"] = 0
    assert store._require() is handle  # known to hold objects: the count is asked again a minute later
