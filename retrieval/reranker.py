"""Cross-encoder reranking from a local model directory (none ships in a package; see train-reranker).

Any Hugging Face sequence-classification directory with one logit works (the usual
cross-encoder format). Each child chunk (with its title) is scored: the sigmoid of the
logit becomes ``Hit.rerank`` (absolute, comparable across queries), and hits are ordered by
a blend of that probability and the fused hybrid score.
"""

from __future__ import annotations

import threading
from pathlib import Path

from retrieval.chunking import embedding_text
from retrieval.errors import ModelUnavailable
from retrieval.types import Chunk, Hit
from bot.model_loading import MODEL_LOAD_LOCK, shared_model

RERANK_WEIGHT = 0.85  # share of the final order decided by the cross-encoder
MAX_LENGTH = 128


def passage_text(chunk: Chunk) -> str:
    """What the cross-encoder reads: the small child with its title and section (cheap on CPU)."""
    return embedding_text(chunk)


class CrossEncoderReranker:
    def __init__(self, model_path: Path, weight: float = RERANK_WEIGHT, device: str = "cpu") -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = Path(model_path)
        if not (path / "config.json").is_file():
            raise ModelUnavailable(f"no cross-encoder in {path} (train one with `ragbot train-reranker`)")
        with MODEL_LOAD_LOCK:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path))
            self.model = AutoModelForSequenceClassification.from_pretrained(str(path)).to(device).eval()
        self.device = device
        self.weight = weight
        self._torch = torch
        self._lock = threading.Lock()

    def scores(self, query: str, texts: list[str], batch_size: int = 16) -> list[float]:
        torch = self._torch
        result: list[float] = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = texts[start : start + batch_size]
                encoded = self.tokenizer([query] * len(batch), batch, truncation="only_second", max_length=MAX_LENGTH,
                                         padding=True, return_tensors="pt").to(self.device)
                logits = self.model(**encoded).logits.reshape(-1)
                result.extend(torch.sigmoid(logits.float()).tolist())
        return result

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        for hit, score in zip(hits, self.scores(query, [passage_text(h.chunk) for h in hits])):
            hit.rerank = score
        return sorted(hits, key=lambda h: -(self.weight * (h.rerank or 0.0) + (1 - self.weight) * h.score))


@shared_model(maxsize=2)
def get_reranker(model_path: Path) -> CrossEncoderReranker:
    """The process-wide cross-encoder for ``model_path``."""
    return CrossEncoderReranker(model_path)
