"""Chunking speed: the shipped token counter against the splitter's stock Hugging Face length
function (``RecursiveCharacterTextSplitter.from_huggingface_tokenizer``), in one run, on the
same documents, checking that both give the same chunks.

    .venv/bin/python benchmarks/chunking_speed.py [--squad ../shared/data/squad2-kb-dev.json] [--mb 2] [--repeat 2]

The documents: a synthetic Markdown page of ``--mb`` megabytes (seeded: headed sections, each
two paragraphs and a ten-row table; a large exported wiki page) and the SQuAD dev file's
paragraphs. The embedding model's tokenizer is loaded once and shared.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = "the vpn profile laptop expense travel policy office network password reset account manager approval request form portal invoice".split()


def big_markdown(megabytes: float, seed: int = 0) -> str:
    rng = random.Random(seed)
    parts, size, n = ["# Big handbook\n"], 0, 0
    while size < megabytes * 1_000_000:
        n += 1
        para = " ".join(rng.choice(WORDS) for _ in range(120)) + ".\n\n"
        table = "| a | b |\n|---|---|\n" + "".join(f"| r{i} | {rng.choice(WORDS)} |\n" for i in range(10))
        section = f"\n## Section {n}\n\n{para}{para}{table}"
        parts.append(section)
        size += len(section)
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/squad2-kb-dev.json")
    parser.add_argument("--mb", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from bot.settings import load_settings
    from retrieval.chunking import Chunker
    from retrieval.embedder import get_embedder
    from retrieval.loaders import load_squad
    from retrieval.types import Document

    settings = load_settings()
    tokenizer = get_embedder().tokenizer
    documents = {
        f"markdown page, {args.mb:g} MB": [Document(doc_id="big.md", title="Big handbook", location="big.md", text=big_markdown(args.mb))],
        "SQuAD dev paragraphs": load_squad(args.squad),
    }
    overlap = min(settings.chunk_overlap_tokens, settings.chunk_tokens // 2)

    def fresh(stock: bool) -> Chunker:
        """A new chunker per run, as each ingest makes one (the shipped counter's memory starts empty)."""
        chunker = Chunker(tokenizer, settings.chunk_tokens, settings.chunk_overlap_tokens, settings.parent_max_chars)
        if stock:
            chunker.child_splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(tokenizer, chunk_size=settings.chunk_tokens, chunk_overlap=overlap)
        return chunker

    print("| documents | chunks | stock HF length function, s | shipped token counter, s | ratio | same chunks |")
    print("|---|---|---|---|---|---|")
    for name, docs in documents.items():
        timings: dict[str, list[float]] = {"stock": [], "shipped": []}
        outputs = {}
        for _ in range(args.repeat):
            for label in ("stock", "shipped"):
                chunker = fresh(label == "stock")
                started = time.perf_counter()
                outputs[label] = [(c.chunk_id, c.text) for d in docs for c in chunker.chunk(d)]
                timings[label].append(time.perf_counter() - started)
        old, new = statistics.median(timings["stock"]), statistics.median(timings["shipped"])
        print(f"| {name} | {len(outputs['shipped']):,} | {old:.2f} | {new:.2f} | {old / new:.0f}x | {outputs['stock'] == outputs['shipped']} |")


if __name__ == "__main__":
    main()
