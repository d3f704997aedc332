"""`ragbot eval answers`: questions through the whole pipeline, scored SQuAD-style.

Answerable questions are correct when a normalized gold answer appears in the reply,
wrong when the bot answered anything else, abstained when it fell back or escalated.
Unanswerable and out-of-knowledge-base questions should be abstained on. A citation is
valid when every ``[n]`` in a reply points at one of the sources given with it; replies
with no citation at all count as not validly cited (the prompt asks for one).
"""

from __future__ import annotations

import random
import re
import string
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from adapters.finetune.squad import load_squad

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_CITATION = re.compile(r"\[(\d+)\]")
CATEGORIES = ("answerable", "unanswerable", "ood")


def normalize(text: str) -> str:
    """SQuAD's answer normalization: lower case, no punctuation, articles or extra spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def contains_answer(reply: str, answers: list[str]) -> bool:
    """A gold answer in the reply; citation markers are not words of it ("[2]" is not the answer "2")."""
    padded = f" {normalize(_CITATION.sub(' ', reply))} "
    return any(normalize(a) and f" {normalize(a)} " in padded for a in answers)


def citations_valid(text: str, source_numbers: set[int]) -> bool:
    cited = {int(n) for n in _CITATION.findall(text)}
    return bool(cited) and cited <= source_numbers


@dataclass
class EvalQuestion:
    category: str
    question: str
    answers: list[str] = field(default_factory=list)
    doc_id: str = ""


@dataclass
class EvalResult:
    category: str
    question: str
    verdict: str  # correct / wrong / abstained / answered
    outcome: str
    escalate: bool
    text: str
    latency_ms: float
    citation_valid: bool | None
    doc_id: str = ""
    answers: list[str] = field(default_factory=list)
    decided_by: str = ""  # the stage that stopped the turn, or the reason it escalated
    mean_logprob: float | None = None  # the generator's confidence in its own words, when it ran
    generator_failure: str | None = None  # "timeout" or the error's class when the generator failed (counted as abstained)


def sample_questions(squad: Path, ood: Path | None, limit: int | None, seed: int, articles: list[str] | None = None) -> list[EvalQuestion]:
    """Up to ``limit`` questions per category, drawn with ``seed`` (the same for every model)."""
    paragraphs, questions = load_squad(squad)
    wanted = {a.replace("_", " ") for a in articles or []}
    titles = {p.doc_id: p.title for p in paragraphs}
    if wanted:
        unknown = sorted(wanted - set(titles.values()))
        if unknown:
            raise ValueError(f"--article {unknown[0]!r} is not an article in {squad}")
        questions = [q for q in questions if titles[q.doc_id] in wanted]
    rng = random.Random(seed)
    answerable = [EvalQuestion("answerable", q.text, q.answers, q.doc_id) for q in questions if not q.impossible]
    unanswerable = [EvalQuestion("unanswerable", q.text, [], q.doc_id) for q in questions if q.impossible]
    out_of_kb: list[EvalQuestion] = []
    if ood is not None:
        from retrieval.evaluation import ood_questions

        out_of_kb = [EvalQuestion("ood", q) for q in ood_questions(ood)]
    chosen = []
    for group in (answerable, unanswerable, out_of_kb):
        chosen += rng.sample(group, limit) if limit is not None and limit < len(group) else group
    return chosen


def judge(question: EvalQuestion, answer, latency_ms: float) -> EvalResult:
    abstained = answer.outcome.value != "answered" or bool(answer.escalate)
    if abstained:
        verdict = "abstained"
    elif question.category == "answerable":
        verdict = "correct" if contains_answer(answer.text, question.answers) else "wrong"
    else:
        verdict = "answered"
    valid = None if abstained else citations_valid(answer.text, {s.n for s in answer.sources})
    stopped = next((t.stage for t in answer.trace if t.decision not in ("continue", "answered")), "")
    generated = next((t.details for t in answer.trace if t.stage == "generate"), {})
    return EvalResult(question.category, question.question, verdict, answer.outcome.value, bool(answer.escalate), answer.text,
                      round(latency_ms, 1), valid, question.doc_id, question.answers,
                      stopped or (answer.escalation_reason or ""), generated.get("mean_logprob"), generated.get("failure"))


def run(pipeline, questions: list[EvalQuestion], progress: Callable[[int, int], None] | None = None, overrides: dict[str, Any] | None = None) -> list[EvalResult]:
    results = []
    for done, question in enumerate(questions, start=1):
        started = time.perf_counter()
        answer = pipeline.run(question.question, overrides=overrides)
        results.append(judge(question, answer, (time.perf_counter() - started) * 1000))
        if progress:
            progress(done, len(questions))
    return results


def _share(results: list[EvalResult], category: str, verdict: str) -> float | None:
    group = [r for r in results if r.category == category]
    return round(sum(r.verdict == verdict for r in group) / len(group), 4) if group else None


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 1)


def summarize(results: list[EvalResult]) -> dict[str, Any]:
    """The documented keys, and nothing else (shares in [0, 1]; None when a category is empty)."""
    answered = [r for r in results if r.citation_valid is not None]
    latencies = [r.latency_ms for r in results]
    return {
        "answerable": {v: _share(results, "answerable", v) for v in ("correct", "wrong", "abstained")},
        "unanswerable": {v: _share(results, "unanswerable", v) for v in ("abstained", "answered")},
        "ood": {v: _share(results, "ood", v) for v in ("abstained", "answered")},
        "citation_valid": round(sum(bool(r.citation_valid) for r in answered) / len(answered), 4) if answered else None,
        "latency_ms": {"p50": _percentile(latencies, 0.5), "p95": _percentile(latencies, 0.95)},
    }


def counts(results: list[EvalResult]) -> dict[str, int]:
    return {c: sum(r.category == c for r in results) for c in CATEGORIES}


def as_rows(results: list[EvalResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
