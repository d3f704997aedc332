"""The Markdown report with plots that `ragbot eval answers --report DIR` writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapters.evaluation import CATEGORIES, EvalResult, counts

_VERDICTS = {"answerable": ("correct", "wrong", "abstained"), "unanswerable": ("abstained", "answered"), "ood": ("abstained", "answered")}
_COLOURS = {"correct": "#2e7d32", "wrong": "#c62828", "abstained": "#9e9e9e", "answered": "#ef6c00"}


def write_report(directory: Path, summary: dict[str, Any], results: list[EvalResult], context: dict[str, Any]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    n = counts(results)
    figure, axis = plt.subplots(figsize=(6, 3))
    categories = [c for c in CATEGORIES if n[c]]
    for row, category in enumerate(categories):
        left = 0.0
        for verdict in _VERDICTS[category]:
            share = summary[category][verdict] or 0.0
            axis.barh(row, share, left=left, color=_COLOURS[verdict], label=verdict)
            if share >= 0.06:
                axis.text(left + share / 2, row, f"{verdict}\n{share:.0%}", ha="center", va="center", fontsize=7, color="white")
            left += share
    axis.set_yticks(range(len(categories)), [f"{c} (n={n[c]})" for c in categories])
    axis.set_xlim(0, 1)
    axis.set_title("What the bot did, by kind of question")
    figure.tight_layout()
    figure.savefig(directory / "outcomes.png", dpi=120)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(6, 3))
    for category in categories:
        axis.hist([r.latency_ms for r in results if r.category == category], bins=30, alpha=0.6, label=category)
    axis.set_xlabel("latency (ms)")
    axis.set_ylabel("questions")
    axis.legend()
    axis.set_title("End-to-end latency")
    figure.tight_layout()
    figure.savefig(directory / "latency.png", dpi=120)
    plt.close(figure)

    with open(directory / "answers.jsonl", "w", encoding="utf-8") as handle:
        for result in results:
            handle.write(json.dumps(result.__dict__, ensure_ascii=False) + "\n")
    (directory / "summary.json").write_text(json.dumps(summary, indent=2))

    lines = ["# ragbot answer evaluation", ""]
    lines += [f"- {key}: `{value}`" for key, value in context.items()]
    lines += ["", "| metric | value |", "|---|---|"]
    for category in CATEGORIES:
        for verdict in _VERDICTS[category]:
            lines.append(f"| {category}.{verdict} (n={n[category]}) | {_fmt(summary[category][verdict])} |")
    lines.append(f"| citation_valid | {_fmt(summary['citation_valid'])} |")
    lines.append(f"| latency_ms p50 / p95 | {summary['latency_ms']['p50']} / {summary['latency_ms']['p95']} |")
    lines += ["", "![outcomes](outcomes.png)", "", "![latency](latency.png)", "", "## Wrong answers (first 10)", ""]
    for result in [r for r in results if r.verdict in ("wrong", "answered")][:10]:
        gold = f" (gold: {result.answers[0]!r})" if result.answers else ""
        lines.append(f"- [{result.category}] {result.question} -> {result.text[:200]!r}{gold}")
    path = directory / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
