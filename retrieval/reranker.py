"""Cross-encoder reranking from a local model directory (none ships in a package; see train-reranker).

The cross-encoder's probability becomes ``Hit.rerank`` (absolute, comparable across queries);
hits are re-ordered by a blend of that probability and the fused hybrid score so a weak
reranker cannot throw away what hybrid search got right.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

from retrieval.chunking import embedding_text
from retrieval.errors import StoreUnavailable
from retrieval.types import Hit

RERANK_WEIGHT = 0.8  # share of the final order decided by the cross-encoder


class CrossEncoderReranker:
    def __init__(self, model_path: Path, weight: float = RERANK_WEIGHT) -> None:
        from sentence_transformers import CrossEncoder

        path = Path(model_path)
        if not path.is_dir():
            raise StoreUnavailable(f"reranker model directory not found: {path} (train one with `ragbot train-reranker`)")
        self.model = CrossEncoder(str(path), device="cpu", max_length=320)
        self.weight = weight
        self._lock = threading.Lock()

    def scores(self, query: str, texts: list[str]) -> list[float]:
        import torch

        if not texts:
            return []
        with self._lock:
            raw = self.model.predict([(query, t) for t in texts], batch_size=32, convert_to_numpy=True, activation_fn=torch.nn.Identity())
        return [float(v) for v in torch.sigmoid(torch.as_tensor(raw)).reshape(-1).tolist()]

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        for hit, score in zip(hits, self.scores(query, [embedding_text(h.chunk) for h in hits])):
            hit.rerank = score
        return sorted(hits, key=lambda h: -(self.weight * (h.rerank or 0.0) + (1 - self.weight) * h.score))


@lru_cache(maxsize=2)
def get_reranker(model_path: Path) -> CrossEncoderReranker:
    return CrossEncoderReranker(model_path)
