"""Ingest throughput and hybrid query latency at 1k / 10k / 100k chunks, resident memory at 100k.

Ingest throughput is measured on a real corpus with the real MiniLM embedder (first ingest,
then an unchanged re-ingest). Query latency at scale uses synthetic chunks (Zipf-distributed
words, random unit vectors: embedding 100k chunks on 2 cores would take about an hour and
does not change the store's search cost); the query embedding is timed separately.

    .venv/bin/python benchmarks/retrieval_scale.py --corpus ../shared/data/squad2-kb-dev.json [--sizes 1000 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.settings import load_settings  # noqa: E402
from retrieval.store.lance import LanceStore  # noqa: E402
from retrieval.types import Chunk  # noqa: E402


def rss_mib() -> float:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def ingest_throughput(corpus: Path) -> dict:
    from retrieval.factory import build_ingestor

    with tempfile.TemporaryDirectory() as scratch:
        settings = load_settings(data_dir=Path(scratch))
        ingestor = build_ingestor(settings)
        ingestor._embedder()  # load the model outside the timing
        first = ingestor.ingest([corpus])
        again = ingestor.ingest([corpus])
    return {
        "corpus": corpus.name, "documents": first.added, "chunks": first.chunks,
        "first_s": round(first.seconds, 2), "chunks_per_s": round(first.chunks / first.seconds, 1),
        "reingest_unchanged_s": round(again.seconds, 3), "reingest_speedup": round(first.seconds / max(again.seconds, 1e-6), 1),
    }


def synthetic_chunks(n: int, dim: int, rng: np.random.Generator, vocabulary: list[str]) -> tuple[list[Chunk], np.ndarray]:
    ranks = np.arange(1, len(vocabulary) + 1)
    p = (1 / ranks) / (1 / ranks).sum()
    chunks = []
    for i in range(n):
        words = rng.choice(len(vocabulary), size=40, p=p)
        text = " ".join(vocabulary[w] for w in words)
        doc = f"doc{i // 4}"
        chunks.append(Chunk(chunk_id=f"{doc}::p0::c{i % 4}", doc_id=doc, title=f"topic {vocabulary[words[0]]}", location=f"/synthetic/{doc}",
                            text=text, parent_id=f"{doc}::p0", parent_text=text, content_hash="x"))
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return chunks, vectors


def query_latency(sizes: list[int], queries: int, alpha: float, k: int) -> list[dict]:
    from retrieval.embedder import get_embedder

    rng = np.random.default_rng(7)
    vocabulary = [f"w{i}{chr(97 + i % 26)}" for i in range(20000)]
    embedder = get_embedder(None)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        store = LanceStore(Path(scratch), "scale")
        have = 0
        for size in sorted(sizes):
            while have < size:
                step = min(10000, size - have)
                chunks, vectors = synthetic_chunks(step, embedder.dim, rng, vocabulary)
                for c in chunks:  # unique ids per batch
                    c.doc_id = f"b{have}-{c.doc_id}"
                    c.chunk_id = f"b{have}-{c.chunk_id}"
                store.upsert(chunks, vectors)
                have += step
            started = time.perf_counter()
            store.finish_ingest()
            index_s = time.perf_counter() - started
            texts = [" ".join(vocabulary[w] for w in rng.choice(2000, size=6)) for _ in range(queries)]
            qv = rng.normal(size=(queries, embedder.dim)).astype(np.float32)
            qv /= np.linalg.norm(qv, axis=1, keepdims=True)
            store.hybrid_search(texts[0], qv[0], k, alpha)  # warm up
            times = []
            for text, vector in zip(texts, qv):
                t = time.perf_counter()
                store.hybrid_search(text, vector, k, alpha)
                times.append(time.perf_counter() - t)
            ms = np.array(times) * 1000
            results.append({"chunks": size, "p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
                            "fts_index_build_s": round(index_s, 1), "rss_mib": round(rss_mib(), 0)})
            print(json.dumps(results[-1]), flush=True)
        embed_times = []
        for text in texts[:50]:
            t = time.perf_counter()
            embedder.encode([text])
            embed_times.append(time.perf_counter() - t)
        results.append({"query_embedding_p50_ms": round(float(np.percentile(np.array(embed_times) * 1000, 50)), 1)})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=None, help="real corpus for ingest throughput (skipped if absent)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    settings = load_settings()
    report = {"cpu_count": os.cpu_count()}
    if args.corpus and args.corpus.exists():
        report["ingest"] = ingest_throughput(args.corpus)
        print(json.dumps(report["ingest"]), flush=True)
    else:
        print(f"ingest throughput skipped: corpus {args.corpus} not found", flush=True)
    report["query"] = query_latency(args.sizes, args.queries, settings.alpha, settings.candidates)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
