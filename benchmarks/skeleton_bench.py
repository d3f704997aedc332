"""Walking-skeleton benchmark: `ragbot ask` cold start, ingest throughput, end-to-end latency.

Run:  .venv/bin/python benchmarks/skeleton_bench.py [--rounds 3] [--later-runs 3]

Everything happens in a fresh temporary data directory, so the first `ragbot ask` really
converts the generator from GGUF; later runs load the cached safetensors. Prints a Markdown
table block for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RAGBOT = Path(sys.executable).parent / "ragbot"
QUESTIONS = [q for q in (REPO / "examples" / "questions.txt").read_text().splitlines() if q.strip()]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3, help="passes over the sample questions for latency")
    parser.add_argument("--later-runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ragbot-bench-") as tmp:
        env = {**os.environ, "RAGBOT_DATA_DIR": tmp, "RAGBOT_CONFIG": str(REPO / "tests" / "empty.toml")}
        os.environ.update({"RAGBOT_DATA_DIR": tmp, "RAGBOT_CONFIG": env["RAGBOT_CONFIG"]})

        # ingest throughput, in-process so model loading is timed apart from the work
        from bot.settings import load_settings
        from retrieval.embedder import get_embedder
        from retrieval.factory import build_ingestor

        settings = load_settings()
        started = time.perf_counter()
        get_embedder(settings.embedding_model)
        embedder_load = time.perf_counter() - started
        started = time.perf_counter()
        report = build_ingestor(settings).ingest([REPO / "examples" / "handbook"])
        ingest_s = time.perf_counter() - started
        chunks = int(getattr(report, "chunks", 0))

        question = QUESTIONS[0]
        first = timed([str(RAGBOT), "ask", question], env)
        later = [timed([str(RAGBOT), "ask", question], env) for _ in range(args.later_runs)]
        fallback_q = QUESTIONS[-1]
        later_fallback = [timed([str(RAGBOT), "ask", fallback_q], env) for _ in range(args.later_runs)]

        # end-to-end latency in a warm process
        from bot.factory import build_pipeline

        pipeline = build_pipeline(settings)
        pipeline.run(QUESTIONS[0])  # warm-up: loads every model once
        latencies: list[float] = []
        outcomes: dict[str, int] = {}
        for _ in range(args.rounds):
            for q in QUESTIONS:
                started = time.perf_counter()
                answer = pipeline.run(q)
                latencies.append((time.perf_counter() - started) * 1000)
                outcomes[answer.outcome.value] = outcomes.get(answer.outcome.value, 0) + 1

    print("| measure | value |")
    print("|---|---|")
    print(f"| embedder load | {embedder_load:.2f} s |")
    print(f"| ingest examples/handbook | {chunks} chunks in {ingest_s:.2f} s = {chunks / ingest_s:.1f} chunks/s |")
    print(f"| `ragbot ask` first run (converts the model) | {first:.1f} s |")
    print(f"| `ragbot ask` later runs, answered (median of {len(later)}) | {statistics.median(later):.1f} s |")
    print(f"| `ragbot ask` later runs, gate fallback (median of {len(later_fallback)}) | {statistics.median(later_fallback):.1f} s |")
    print(f"| first / later ratio | {first / statistics.median(later):.1f}x |")
    print(f"| end-to-end latency, warm, {len(latencies)} questions | p50 {percentile(latencies, 50):.0f} ms, p95 {percentile(latencies, 95):.0f} ms |")
    print(f"| outcomes | {', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))} |")


if __name__ == "__main__":
    main()
