"""Fit the relevance gate's logistic calibration on SQuAD-format dev data and out-of-KB questions.

Runs every answerable question (positives) and every out-of-KB question (negatives) through
the configured retriever (reranker included when RAGBOT_RERANKER_MODEL is set), records
the gate's absolute features, fits ``sigmoid(bias + w . features)`` with balanced class
weights, and reports two-fold cross-validated figures (folds split by article and by
out-of-KB topic, so no topic is scored by a model that saw it). Writes the weights into
retrieval/calibration.json under the model name (``hybrid`` or ``rerank``).

    .venv/bin/python benchmarks/retrieval_calibrate.py --squad ../shared/data/squad2-kb-dev.json \
        --ood ../shared/data/ood-questions-dev.jsonl [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.settings import load_settings  # noqa: E402
from retrieval.evaluation import auroc, ood_questions, squad_questions  # noqa: E402
from retrieval.relevance import CALIBRATION_FILE, Calibration, candidate_features  # noqa: E402

FEATURES = {"hybrid": ["cosine", "coverage"], "rerank": ["cosine", "coverage", "rerank"]}
CANDIDATES = ["cosine", "coverage", "specific", "weighted", "cosine_gap"]


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, iterations: int = 50) -> tuple[float, np.ndarray]:
    """Balanced-weight logistic regression by Newton's method (small, dependency-free)."""
    weights = np.where(y == 1, 0.5 / max(1, y.sum()), 0.5 / max(1, (1 - y).sum())) * len(y)
    design = np.hstack([np.ones((len(x), 1)), x])
    theta = np.zeros(design.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(design @ theta, -60, 60)))
        gradient = design.T @ (weights * (p - y)) + l2 * np.r_[0, theta[1:]]
        hessian = (design * (weights * p * (1 - p))[:, None]).T @ design + l2 * np.diag(np.r_[0, np.ones(len(theta) - 1)])
        theta -= np.linalg.solve(hessian, gradient)
    return float(theta[0]), theta[1:]


def collect(squad: Path, ood: Path, ood_every: int, out: Path) -> list[dict]:
    from retrieval.factory import build_ingestor, build_retriever

    settings = load_settings()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        kb = settings.with_overrides({"data_dir": scratch, "tenant": "calibrate"})
        build_ingestor(kb).ingest([squad])
        retriever = build_retriever(kb)
        titles = [a["title"] for a in json.loads(squad.read_text())["data"]]
        kb_questions = [(q.question, 1, titles.index(q.gold.rsplit("#", 1)[0]) % 2) for q in squad_questions(squad)]
        topics = {}
        out_questions = []
        for i, line in enumerate(ood.read_text().splitlines()):
            if line.strip() and i % ood_every == 0:
                item = json.loads(line)
                fold = topics.setdefault(item.get("topic", ""), len(topics)) % 2
                out_questions.append((item["question"], 0, fold))
        started = time.time()
        everything = kb_questions + out_questions
        vectors = retriever._embedder().encode([q for q, _, _ in everything])
        for n, ((question, label, fold), vector) in enumerate(zip(everything, vectors), start=1):
            hits = retriever.search(question, k=max(kb.candidates, 50), alpha=kb.alpha, vector=vector)
            rows.append({"label": label, "fold": fold, **candidate_features(question, hits)})
            if n % 200 == 0:
                print(f"{n}/{len(kb_questions) + len(out_questions)} ({time.time() - started:.0f} s)", flush=True)
    out.write_text("\n".join(json.dumps(r) for r in rows))
    return rows


def evaluate(rows: list[dict], names: list[str], threshold: float) -> dict:
    x = np.array([[r.get(n, 0.0) for n in names] for r in rows])
    y = np.array([r["label"] for r in rows])
    folds = np.array([r["fold"] for r in rows])
    scores = np.zeros(len(rows))
    for fold in (0, 1):
        bias, w = fit_logistic(x[folds != fold], y[folds != fold])
        scores[folds == fold] = 1 / (1 + np.exp(-(bias + x[folds == fold] @ w)))
    bias, w = fit_logistic(x, y)
    full = 1 / (1 + np.exp(-(bias + x @ w)))
    report = {"features": names, "bias": bias, "weights": dict(zip(names, w.tolist()))}
    for name, s in (("cross_validated", scores), ("in_sample", full)):
        report[name] = {
            "auroc": round(auroc(list(s[y == 1]), list(s[y == 0])), 4),
            "keep": round(float((s[y == 1] >= threshold).mean()), 4),
            "pass_ood": round(float((s[y == 0] >= threshold).mean()), 4),
        }
    for n in names:
        report.setdefault("single_feature_auroc", {})[n] = round(auroc(list(x[y == 1, names.index(n)]), list(x[y == 0, names.index(n)])), 4)
    # thresholds on the in-sample model for the keep / pass trade-off
    report["thresholds"] = {f"{t:.2f}": [round(float((full[y == 1] >= t).mean()), 4), round(float((full[y == 0] >= t).mean()), 4)]
                            for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, required=True)
    parser.add_argument("--ood", type=Path, required=True)
    parser.add_argument("--model", choices=sorted(FEATURES), default=None, help="default: rerank when a reranker is configured")
    parser.add_argument("--ood-every", type=int, default=1, help="use every n-th out-of-KB question (quick runs)")
    parser.add_argument("--features", type=Path, default=Path("/tmp/ragbot-gate-features.jsonl"), help="feature cache")
    parser.add_argument("--reuse", action="store_true", help="refit from the feature cache without searching again")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--use", nargs="+", default=None, help=f"features to fit (default: the model's); from {CANDIDATES} and rerank")
    parser.add_argument("--write", action="store_true", help=f"store the fitted weights in {CALIBRATION_FILE.name}")
    args = parser.parse_args()
    if not args.squad.is_file() or not args.ood.is_file():
        sys.exit(f"data not found ({args.squad}, {args.ood}); see ../shared/data/README.md")
    settings = load_settings()
    model = args.model or ("rerank" if settings.reranker_model else "hybrid")
    if args.reuse:
        rows = [json.loads(line) for line in args.features.read_text().splitlines()]
    else:
        rows = collect(args.squad, args.ood, args.ood_every, args.features)
    report = evaluate(rows, args.use or FEATURES[model], args.threshold)
    print(json.dumps({"model": model, "questions": len(rows), **report}, indent=1))
    if args.write:
        data = json.loads(CALIBRATION_FILE.read_text()) if CALIBRATION_FILE.is_file() else {"models": {}}
        data["models"][model] = {"bias": report["bias"], "weights": report["weights"],
                                 "fitted_on": f"{args.squad.name} + {args.ood.name}", "cross_validated": report["cross_validated"]}
        CALIBRATION_FILE.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {CALIBRATION_FILE}")


if __name__ == "__main__":
    main()
