"""Leetspeak injections ("d1sregard y0ur rul3s"): the question check with and without reading
digits as letters, in one run.

    .venv/bin/python benchmarks/guardrails_leet.py [--data ../shared/data] [--share 0.5] [--seed 0]

Every dev injection is rewritten in leetspeak (each o/i/e/a/s/t/g, in either case, replaced by
0/1/3/4/5/7/9 with probability ``--share``; seeded), and the benign rows are scored as they
are. The shipped detector was trained on the untransformed file, so detection here is partly
in-sample; what the run isolates is the folding: same texts, same detector, one switch.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_LEET = {"o": "0", "i": "1", "e": "3", "a": "4", "s": "5", "t": "7", "g": "9"}


def leet(text: str, share: float, rng: random.Random) -> str:
    return "".join(_LEET[ch.lower()] if ch.lower() in _LEET and rng.random() < share else ch for ch in text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--share", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from bot.settings import load_settings
    from guardrails.injection.training import load_labelled
    from guardrails.injection.validators import _layered, injection_scores
    from guardrails.normalize import fold_confusables, normalize_text

    texts, y = load_labelled(args.data / "injections-dev.jsonl")
    texts = [normalize_text(t) for t in texts]
    rng = random.Random(args.seed)
    attacks = [leet(t, args.share, rng) for t, label in zip(texts, y) if label == 1]
    benign = [t for t, label in zip(texts, y) if label == 0]
    threshold = load_settings().injection_threshold

    def rates(score) -> dict:
        started = time.perf_counter()
        hit = np.array(score(attacks)) >= threshold
        flagged = np.array(score(benign)) >= threshold
        return {"tpr_leet": round(float(hit.mean()), 3), "fpr_benign": round(float(flagged.mean()), 4),
                "seconds": round(time.perf_counter() - started, 1)}

    result = {
        "injections": len(attacks), "benign": len(benign), "share": args.share, "threshold": threshold,
        "without_folding": rates(lambda batch: _layered([fold_confusables(t) for t in batch], None)),
        "with_folding (shipped)": rates(lambda batch: injection_scores(batch)),
        "untransformed_tpr (reference)": round(float((np.array(injection_scores([t for t, label in zip(texts, y) if label == 1])) >= threshold).mean()), 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
