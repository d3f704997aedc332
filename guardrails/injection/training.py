"""Training and cross-validation of the injection detector (``ragbot train-guard``).

The decision threshold is chosen on out-of-fold scores for a target false-positive rate and
folded into the bias, so the shipped model's 0.5 means "the operating point we measured".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from guardrails.injection.detector import InjectionDetector, features
from guardrails.injection.patterns import pattern_score


class TrainingDataError(ValueError):
    """The labelled file is missing, empty or malformed; the message says where."""


def load_labelled(path: Path) -> tuple[list[str], np.ndarray]:
    """``{"text", "label": "injection"|"benign"}`` per line -> texts, 0/1 labels."""
    if not path.is_file():
        raise TrainingDataError(f"no such file: {path}")
    texts, labels = [], []
    try:
        lines = path.read_bytes().decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as error:
        raise TrainingDataError(f"{path}: not valid UTF-8 ({error.reason} at byte {error.start})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            label = row["label"]
            text = row["text"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise TrainingDataError(f"{path}:{number}: expected a JSON object with text and label ({error})") from None
        if label not in ("injection", "benign") or not isinstance(text, str):
            raise TrainingDataError(f"{path}:{number}: label must be 'injection' or 'benign', text a string")
        texts.append(text)
        labels.append(1 if label == "injection" else 0)
    if len(set(labels)) < 2:
        raise TrainingDataError(f"{path}: need both injection and benign examples")
    return texts, np.array(labels, dtype=np.int64)


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(x, y)
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


@dataclass
class CrossValidation:
    folds: int
    auroc: float
    threshold: float  # detector probability at the target FPR, from out-of-fold scores
    detector_tpr: float
    detector_fpr: float
    combined_tpr: float  # patterns OR detector
    combined_fpr: float

    def as_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def _auroc(scores: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = y == 1
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


def cross_validate(x: np.ndarray, y: np.ndarray, texts: list[str], *, folds: int, c: float, target_fpr: float, seed: int = 0) -> CrossValidation:
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(y), dtype=np.int64)
    for label in (0, 1):  # stratified folds
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        fold_of[idx] = np.arange(len(idx)) % folds
    scores = np.zeros(len(y))
    for k in range(folds):
        train, test = fold_of != k, fold_of == k
        w, b = _fit(x[train], y[train], c)
        scores[test] = 1 / (1 + np.exp(-(x[test] @ w + b)))
    patterns = np.array([pattern_score(t) > 0 for t in texts])
    benign = np.sort(scores[y == 0])[::-1]
    # the highest threshold that keeps the combined FPR within target
    allowed = int(np.floor(target_fpr * len(benign)))
    pattern_fp = int(patterns[y == 0].sum())
    detector_only_benign = np.sort(scores[(y == 0) & ~patterns])[::-1]
    budget = max(allowed - pattern_fp, 0)
    threshold = float(detector_only_benign[budget]) if budget < len(detector_only_benign) else 0.5
    flagged = scores > threshold
    combined = flagged | patterns
    return CrossValidation(
        folds=folds,
        auroc=_auroc(scores, y),
        threshold=threshold,
        detector_tpr=float(flagged[y == 1].mean()),
        detector_fpr=float(flagged[y == 0].mean()),
        combined_tpr=float(combined[y == 1].mean()),
        combined_fpr=float(combined[y == 0].mean()),
    )


def train_detector(texts: list[str], y: np.ndarray, embeddings: np.ndarray, *, c: float = 10.0, folds: int = 5, target_fpr: float = 0.01) -> tuple[InjectionDetector, CrossValidation]:
    """Cross-validate, then fit on all data with the CV threshold folded into the bias."""
    x = features(texts, embeddings)
    cv = cross_validate(x, y, texts, folds=folds, c=c, target_fpr=target_fpr)
    w, b = _fit(x, y, c)
    meta = {"examples": len(y), "injections": int(y.sum()), "C": c, "target_fpr": target_fpr, **{f"cv_{k}": v for k, v in cv.as_dict().items()}}
    return InjectionDetector(w, b - _logit(cv.threshold), embeddings.shape[1], meta), cv
