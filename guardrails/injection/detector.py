"""The learned injection detector: logistic regression over sentence embeddings plus hashed
character and word n-grams, stored as one small ``.npz`` the project ships.

Why both feature kinds: MiniLM embeddings capture what a message *asks for* (a role change,
a new task) in English, while hashed n-grams catch other languages' wording that the
English-only embedding model blurs. Inference is numpy only, after one embedding call.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_PATH = Path(__file__).with_name("detector.npz")
CHAR_DIM = 2**13
WORD_DIM = 2**13
_WORD = re.compile(r"\w+", re.UNICODE)


def _hashed(grams: list[str], dim: int, salt: bytes) -> np.ndarray:
    vector = np.zeros(dim, dtype=np.float32)
    for gram in grams:
        vector[zlib.crc32(salt + gram.encode("utf-8")) % dim] += 1.0
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def ngram_features(text: str) -> np.ndarray:
    """Char 3-5-grams inside words and word 1-2-grams, hashed and L2-normalized (lower-cased)."""
    words = _WORD.findall(text.lower())
    chars = []
    for word in words:
        padded = f" {word} "
        for n in (3, 4, 5):
            chars.extend(padded[i : i + n] for i in range(max(len(padded) - n + 1, 1)))
    word_grams = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    return np.concatenate([_hashed(chars, CHAR_DIM, b"c"), _hashed(word_grams, WORD_DIM, b"w")])


def features(texts: list[str], embeddings: np.ndarray) -> np.ndarray:
    grams = np.stack([ngram_features(t) for t in texts]) if texts else np.zeros((0, CHAR_DIM + WORD_DIM), np.float32)
    return np.hstack([embeddings.astype(np.float32), grams])


@dataclass
class InjectionDetector:
    """``probability(texts, embeddings)``: P(injection), calibrated so 0.5 is the trained operating point."""

    weights: np.ndarray
    bias: float
    embedding_dim: int
    meta: dict

    def probability(self, texts: list[str], embeddings: np.ndarray) -> np.ndarray:
        if embeddings.shape[1] != self.embedding_dim:
            raise ValueError(f"detector expects {self.embedding_dim}-d embeddings, got {embeddings.shape[1]}")
        logits = features(texts, embeddings) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))

    def save(self, path: Path) -> None:
        meta = {k: str(v) for k, v in self.meta.items()}
        np.savez_compressed(
            path, weights=self.weights.astype(np.float16), bias=np.float64(self.bias),
            embedding_dim=np.int64(self.embedding_dim), meta_keys=np.array(list(meta)), meta_values=np.array(list(meta.values())),
        )

    @classmethod
    def load(cls, path: Path = DEFAULT_PATH) -> "InjectionDetector":
        if not Path(path).is_file():
            raise FileNotFoundError(f"injection detector not found at {path}; train one with `ragbot train-guard --data FILE.jsonl`")
        with np.load(path, allow_pickle=False) as data:
            meta = dict(zip(data["meta_keys"].tolist(), data["meta_values"].tolist()))
            return cls(data["weights"].astype(np.float32), float(data["bias"]), int(data["embedding_dim"]), meta)
