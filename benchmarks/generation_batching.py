"""Generation throughput of the local backend: one request at a time vs concurrent requests batched.

    .venv/bin/python benchmarks/generation_batching.py --squad ../shared/data/squad2-kb-dev.json \
        --requests 8 --batch-size 4 [--adapter NAME] [--data-dir DIR]

Each request is a SQuAD question with its gold paragraph as passage [1] (the shape ragbot
prompts with). The same questions run twice on one loaded model: sequentially with
``generation_batch_size=1``, then from N threads at once with ``generation_batch_size=B``.
Prints requests/s, generated tokens/s and p50 latency for both, and the speed-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.base import Passage  # noqa: E402
from adapters.local import TransformersGenerator  # noqa: E402
from bot.settings import load_settings  # noqa: E402


def questions(path: Path, count: int) -> list[tuple[str, list[Passage]]]:
    data = json.loads(path.read_text())["data"]
    out = []
    for article in data:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                if not qa.get("is_impossible"):
                    out.append((qa["question"], [Passage(1, article["title"], paragraph["context"])]))
                    break
            if len(out) >= count:
                return out
    return out


def run(generator, items, settings, concurrent: bool) -> dict[str, float]:
    latencies, tokens = [], []

    def one(question, passages):
        started = time.perf_counter()
        result = generator.generate(question, passages, settings=settings)
        latencies.append(time.perf_counter() - started)
        tokens.append(result.completion_tokens)

    started = time.perf_counter()
    if concurrent:
        threads = [threading.Thread(target=one, args=item) for item in items]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for item in items:
            one(*item)
    wall = time.perf_counter() - started
    return {"requests_per_s": len(items) / wall, "tokens_per_s": sum(tokens) / wall, "p50_latency_s": statistics.median(latencies), "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=Path("../shared/data/squad2-kb-dev.json"))
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--adapter", default="none")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    if not args.squad.is_file():
        sys.exit(f"skipped: {args.squad} not found (the shared evaluation data is not on this machine)")
    base = load_settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    settings = base.with_overrides({"adapter": args.adapter, "max_new_tokens": args.max_new_tokens, "generation_timeout_s": 600})
    generator = TransformersGenerator(settings)
    items = questions(args.squad, args.requests)
    started = time.perf_counter()
    generator.generate(*items[0], settings=settings)  # load and warm up
    print(f"model loaded and warmed up in {time.perf_counter() - started:.1f} s")
    sequential = run(generator, items, settings.with_overrides({"generation_batch_size": 1}), concurrent=False)
    batched_settings = settings.with_overrides({"generation_batch_size": args.batch_size, "generation_batch_wait_ms": 50})
    batched = run(generator, items, batched_settings, concurrent=True)
    print(f"batch sizes decoded: {generator.batches_run[1 + len(items):]}")
    for name, row in (("sequential", sequential), (f"concurrent, batch {args.batch_size}", batched)):
        print(f"{name:>22}: {row['requests_per_s']:.2f} req/s, {row['tokens_per_s']:.1f} tok/s, p50 {row['p50_latency_s']:.2f} s, wall {row['wall_s']:.1f} s")
    print(f"throughput ratio (batched / sequential): {batched['requests_per_s'] / sequential['requests_per_s']:.2f}x")


if __name__ == "__main__":
    main()
