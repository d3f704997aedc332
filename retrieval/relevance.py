"""The relevance gate's score: a calibrated probability that the knowledge base holds the answer.

Only absolute, backend-independent signals go in, so ``min_relevance`` means the same on
LanceDB and Weaviate: the best hit's cosine (same embeddings on both), the share of the
question's content words found in the best hits (computed here, not by the store, whose BM25
scales differ between backends), and the reranker's probability when one is configured.
A logistic model maps them to [0, 1]; its weights come from ``calibration.json``
(fitted by ``benchmarks/retrieval_calibrate.py`` on the dev files).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from retrieval.types import Hit

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    """a an the and or but if of at by for with about against between into through during before after above below
    to from up down in out on off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will just don should now is are was
    were be been being have has had having do does did doing what which who whom this that these those i me my we our
    you your he him his she her it its they them their am would could also did many much one two first used use called
    name named known""".split()
)


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1}


def _stem(word: str) -> str:
    """A light suffix stripper: enough to match 'ruled'/'rules'/'ruling' without a stemmer dependency."""
    for suffix in ("ings", "ing", "edly", "ed", "es", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _hit_words(hit: Hit) -> set[str]:
    return content_words(f"{hit.chunk.title} {hit.chunk.parent_text or hit.chunk.text}")


def coverage(query: str, hit: Hit) -> float:
    """Share of the question's content words that occur in the hit's title and text."""
    words = content_words(query)
    if not words:
        return 0.0
    return len(words & _hit_words(hit)) / len(words)


def specific_words(query: str) -> set[str]:
    """Names and numbers: capitalized words after the first, and digits (the words a KB must contain)."""
    tokens = re.findall(r"[A-Za-z0-9][A-Za-z0-9'-]*", query)
    picked = {t for i, t in enumerate(tokens) if (i > 0 and t[0].isupper()) or t[0].isdigit()}
    return {_stem(w) for w in _WORD.findall(" ".join(picked).lower()) if w not in STOPWORDS}


def specific_coverage(query: str, hit: Hit) -> float:
    """Coverage of names and numbers; plain coverage when the question has none."""
    words = specific_words(query)
    if not words:
        return coverage(query, hit)
    return len(words & _hit_words(hit)) / len(words)


def weighted_coverage(query: str, hit: Hit) -> float:
    """Coverage weighted by word length: a cheap stand-in for IDF (long words are rarer)."""
    words = content_words(query)
    total = sum(len(w) for w in words)
    return sum(len(w) for w in words & _hit_words(hit)) / total if total else 0.0


@dataclass(frozen=True)
class Calibration:
    """``relevance = sigmoid(bias + sum(weight[f] * feature[f]))``."""

    bias: float
    weights: dict[str, float]

    def apply(self, features: dict[str, float]) -> float:
        z = self.bias + sum(w * features.get(name, 0.0) for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


# Used only when calibration.json is missing: 0.5 at top cosine 0.40 (NOTES.md reference point).
_FALLBACK = {"hybrid": Calibration(-8.0, {"cosine": 20.0}), "rerank": Calibration(-8.0, {"cosine": 20.0})}


@lru_cache(maxsize=4)
def load_calibration(path: Path = CALIBRATION_FILE) -> dict[str, Calibration]:
    if not path.is_file():
        return dict(_FALLBACK)
    raw = json.loads(path.read_text())
    return {name: Calibration(float(v["bias"]), {k: float(w) for k, w in v["weights"].items()}) for name, v in raw["models"].items()}


def features(query: str, hits: list[Hit], top_n: int = 3) -> dict[str, float]:
    """The gate's absolute signals of the best hits (max over the first ``top_n``, so order does not matter much)."""
    head = hits[:top_n]
    result = {
        "cosine": max((h.cosine for h in head if h.cosine is not None), default=0.0),
        "coverage": max((coverage(query, h) for h in head), default=0.0),
    }
    reranks = [h.rerank for h in head if h.rerank is not None]
    if reranks:
        result["rerank"] = max(reranks)
    return result


def candidate_features(query: str, hits: list[Hit], top_n: int = 3) -> dict[str, float]:
    """``features`` plus the ones tried for the gate and not kept (benchmarks/retrieval_calibrate.py compares them)."""
    head = hits[:top_n]
    cosines = sorted((h.cosine for h in hits[:10] if h.cosine is not None), reverse=True)
    return {
        **features(query, hits, top_n),
        "specific": max((specific_coverage(query, h) for h in head), default=0.0),
        "weighted": max((weighted_coverage(query, h) for h in head), default=0.0),
        "cosine_gap": cosines[0] - float(sum(cosines[1:]) / len(cosines[1:])) if len(cosines) > 1 else 0.0,
    }


class CalibratedRelevance:
    """``relevance(query, hits)`` in [0, 1]; ``min_relevance`` is a cutoff on this probability."""

    def __init__(self, calibration: dict[str, Calibration] | None = None) -> None:
        self.calibration = calibration or load_calibration()

    def relevance(self, query: str, hits: list[Hit]) -> float:
        if not hits:
            return 0.0
        feats = features(query, hits)
        model = self.calibration.get("rerank") if "rerank" in feats else None
        model = model or self.calibration.get("hybrid") or _FALLBACK["hybrid"]
        return model.apply(feats)
