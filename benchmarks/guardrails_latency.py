"""Per-check latency of every guardrail on realistic inputs (questions, passages, answers).

    .venv/bin/python benchmarks/guardrails_latency.py [--n 200] [--threads 1] [--data ../shared/data]

Questions are SQuAD questions and deepset prompts from injections-dev.jsonl; passages and
answers come from squad2-kb-dev.json (the answer is the paragraph sentence holding the gold
answer, cited as [1]). Models are loaded before timing. Prints one table (ms, wall clock and
CPU time of this process) and, with --json, one JSON object.
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
from guardrails.input import input_validators, passage_validators  # noqa: E402
from guardrails.output import output_validators  # noqa: E402


def _samples(data: Path, n: int, seed: int = 0):
    rng = random.Random(seed)
    rows = [json.loads(line) for line in (data / "injections-dev.jsonl").read_text().splitlines() if line.strip()]
    questions = [r["text"] for r in rng.sample(rows, min(n, len(rows)))]
    squad = json.loads((data / "squad2-kb-dev.json").read_text())
    items = []
    for article in squad["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                if qa.get("is_impossible") or not qa["answers"]:
                    continue
                answer = qa["answers"][0]["text"]
                sentence = next((s for s in re.split(r"(?<=[.!?])\s+", para["context"]) if answer in s), None)
                if sentence:
                    items.append((qa["question"], para["context"], sentence + " [1]"))
    items = rng.sample(items, min(n, len(items)))
    contexts = [p["context"] for a in squad["data"] for p in a["paragraphs"]]
    return questions, items, contexts, rng


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (the default build uses one per core)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if not (args.data / "injections-dev.jsonl").is_file():
        sys.exit(f"skipped: {args.data} has no injections-dev.jsonl / squad2-kb-dev.json")
    settings = load_settings(data_dir=Path("/tmp/ragbot-bench"))
    questions, items, contexts, rng = _samples(args.data, args.n)
    checks = []
    for v in input_validators(settings):
        checks.append(("input", v, [(q, CheckContext(settings=settings, question=q, user_id=f"U{i}", channel_id="C1")) for i, q in enumerate(questions)]))
    for v in passage_validators(settings):
        # one passage per call, as the stage does (top_k passages = top_k calls)
        checks.append(("passage", v, [(c, CheckContext(settings=settings)) for c in rng.sample(contexts, min(args.n, len(contexts)))]))
    for v in output_validators(settings):
        checks.append(("output", v, [(a, CheckContext(settings=settings, question=q, source_texts=[c], n_sources=1)) for q, c, a in items]))
    results = {}
    for kind, validator, cases in checks:
        validator.validate(*cases[0])  # warm-up: loads models
        walls, cpus = [], []
        for text, ctx in cases:
            w0, c0 = time.perf_counter(), time.process_time()
            validator.validate(text, ctx)
            walls.append((time.perf_counter() - w0) * 1000)
            cpus.append((time.process_time() - c0) * 1000)
        results[f"{kind}:{validator.name}"] = {
            "n": len(cases),
            "p50_ms": round(float(np.percentile(walls, 50)), 2),
            "p95_ms": round(float(np.percentile(walls, 95)), 2),
            "cpu_p50_ms": round(float(np.percentile(cpus, 50)), 2),
            "cpu_p95_ms": round(float(np.percentile(cpus, 95)), 2),
        }
    if args.json:
        print(json.dumps(results))
        return
    print(f"{'check':<30}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'cpu p50':>9}{'cpu p95':>9}")
    for name, r in results.items():
        print(f"{name:<30}{r['n']:>5}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}{r['cpu_p50_ms']:>9.2f}{r['cpu_p95_ms']:>9.2f}")


if __name__ == "__main__":
    main()
