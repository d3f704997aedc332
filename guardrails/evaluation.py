"""Measuring the guardrails on labelled data (``ragbot eval guardrails``).

PII is scored at span level: a predicted span is a true positive when it overlaps a gold
span of the same type (after mapping the data set's labels onto Presidio's names). Gold types
the redactor does not target (titles, ages, zip codes, dates, organisations, nationalities,
web domains) are left out of both sides, as presidio-research does with unmapped types.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

# presidio-research synthetic labels -> the Presidio entity our redactor emits (None: not targeted)
GOLD_TO_PRESIDIO: dict[str, str | None] = {
    "PERSON": "PERSON",
    "STREET_ADDRESS": "LOCATION",
    "GPE": "LOCATION",
    "LOCATION": "LOCATION",
    "CREDIT_CARD": "CREDIT_CARD",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "IBAN_CODE": "IBAN_CODE",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_DRIVER_LICENSE": "US_DRIVER_LICENSE",
    "ORGANIZATION": None,
    "DATE_TIME": None,
    "TITLE": None,
    "AGE": None,
    "NRP": None,
    "ZIP_CODE": None,
    "DOMAIN_NAME": None,
}


class EvalDataError(ValueError):
    """An evaluation file is missing or malformed; the message names it."""


def _percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3) if values else 0.0


def eval_injections(path: Path) -> dict:
    from guardrails.injection import injection_scores
    from guardrails.injection.training import TrainingDataError, load_labelled
    from bot.settings import load_settings

    try:
        texts, labels = load_labelled(path)
    except TrainingDataError as error:
        raise EvalDataError(str(error)) from None
    from guardrails.normalize import normalize_text

    settings = load_settings()
    threshold, detector = settings.injection_threshold, settings.injection_detector
    injection_scores(["warm-up"], detector)  # load the models outside the timed loop
    flagged, latencies = [], []
    for text in texts:
        started = time.perf_counter()
        score = injection_scores([normalize_text(text)], detector)[0]
        latencies.append((time.perf_counter() - started) * 1000)
        flagged.append(score >= threshold)
    flagged_arr = np.array(flagged)
    return {
        "tpr": round(float(flagged_arr[labels == 1].mean()), 4),
        "fpr": round(float(flagged_arr[labels == 0].mean()), 4),
        "latency_ms": {"p50": _percentile(latencies, 50)},
    }, {"texts": texts, "labels": labels, "flagged": flagged_arr, "latencies": latencies}


def load_pii(path: Path) -> list[dict]:
    if not path.is_file():
        raise EvalDataError(f"no such file: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = [{"full_text": r["full_text"], "spans": list(r["spans"])} for r in data]
        for row in rows:
            for span in row["spans"]:
                span["entity_type"], span["start_position"], span["end_position"]  # noqa: B018 - shape check
    except (ValueError, KeyError, TypeError) as error:  # ValueError: bad JSON or not UTF-8
        raise EvalDataError(f"{path}: expected presidio-research JSON in UTF-8 (full_text, spans) ({error})"[:300]) from None
    if not rows:
        raise EvalDataError(f"{path}: no texts to evaluate")
    return rows


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def eval_pii(path: Path) -> tuple[dict, dict]:
    from guardrails.pii import get_engine

    rows = load_pii(path)
    engine = get_engine()
    targeted = {t for t in GOLD_TO_PRESIDIO.values() if t}
    stats: dict[str, dict[str, int]] = {t: {"tp_pred": 0, "pred": 0, "tp_gold": 0, "gold": 0} for t in sorted(targeted)}
    misses, false_positives, latencies = [], [], []
    for row in rows:
        text = row["full_text"]
        gold = [
            (GOLD_TO_PRESIDIO.get(s["entity_type"]), (s["start_position"], s["end_position"]))
            for s in row["spans"]
        ]
        gold = [(t, span) for t, span in gold if t]
        started = time.perf_counter()
        found = [(f.entity_type, (f.start, f.end)) for f in engine.analyze(text) if f.entity_type in targeted]
        latencies.append((time.perf_counter() - started) * 1000)
        for etype, span in found:
            stats[etype]["pred"] += 1
            if any(g == etype and _overlaps(span, gs) for g, gs in gold):
                stats[etype]["tp_pred"] += 1
            else:
                false_positives.append((etype, text[span[0]:span[1]], text))
        for etype, span in gold:
            stats[etype]["gold"] += 1
            if any(f == etype and _overlaps(span, fs) for f, fs in found):
                stats[etype]["tp_gold"] += 1
            else:
                misses.append((etype, text[span[0]:span[1]], text))
    total = {k: sum(s[k] for s in stats.values()) for k in ("tp_pred", "pred", "tp_gold", "gold")}
    precision = total["tp_pred"] / total["pred"] if total["pred"] else 0.0
    recall = total["tp_gold"] / total["gold"] if total["gold"] else 0.0
    f2 = 5 * precision * recall / (4 * precision + recall) if precision + recall else 0.0
    per_entity = {
        t: {
            "precision": round(s["tp_pred"] / s["pred"], 4) if s["pred"] else 0.0,
            "recall": round(s["tp_gold"] / s["gold"], 4) if s["gold"] else 0.0,
            "count": s["gold"],
        }
        for t, s in stats.items()
        if s["gold"] or s["pred"]
    }
    report = {"precision": round(precision, 4), "recall": round(recall, 4), "f2": round(f2, 4), "per_entity": per_entity}
    return report, {"misses": misses, "false_positives": false_positives, "latencies": latencies}
