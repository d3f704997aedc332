"""Scoring of `ragbot eval answers`: SQuAD normalization, verdicts, citations, the JSON keys, the report."""

import json

from adapters.eval_report import write_report
from adapters.evaluation import EvalQuestion, citations_valid, contains_answer, judge, normalize, sample_questions, summarize
from bot.answer import Answer, Outcome, Source


def answer(text, outcome=Outcome.ANSWERED, escalate=False, sources=(1, 2)):
    return Answer(text=text, outcome=outcome, confidence=0.9, escalate=escalate,
                  sources=[Source(n=n, title="t", location="l", score=1.0) for n in sources])


def test_squad_normalization_and_containment():
    assert normalize("The  Normans, of France!") == "normans of france"
    assert contains_answer("It is in France [1].", ["France"])
    assert contains_answer("in the 10th and 11th centuries [2]", ["10th and 11th centuries"])
    assert not contains_answer("Francesca [1]", ["France"])  # whole words only
    assert not contains_answer("anything", ["", "  "])
    assert not contains_answer("There were three of them [2].", ["2"])  # a citation marker is not the answer
    assert contains_answer("There were 2 of them [1].", ["2"])


def test_citations_must_exist_and_point_at_given_sources():
    assert citations_valid("France [1].", {1, 2})
    assert citations_valid("France [1][2].", {1, 2})
    assert not citations_valid("France [3].", {1, 2})
    assert not citations_valid("France.", {1, 2})


def test_verdicts_count_fallbacks_and_escalations_as_abstained():
    q = EvalQuestion("answerable", "Where?", ["France"])
    assert judge(q, answer("France [1]."), 5).verdict == "correct"
    assert judge(q, answer("Spain [1]."), 5).verdict == "wrong"
    assert judge(q, answer("sorry", Outcome.FALLBACK), 5).verdict == "abstained"
    assert judge(q, answer("France [1].", escalate=True), 5).verdict == "abstained"
    assert judge(EvalQuestion("ood", "Who?"), answer("Bob [1]."), 5).verdict == "answered"


def test_summary_has_exactly_the_documented_keys():
    results = [
        judge(EvalQuestion("answerable", "a", ["France"]), answer("France [1]."), 10),
        judge(EvalQuestion("answerable", "b", ["Rollo"]), answer("Bob [9]."), 20),
        judge(EvalQuestion("unanswerable", "c"), answer("x", Outcome.FALLBACK), 30),
        judge(EvalQuestion("ood", "d"), answer("x", Outcome.BLOCKED), 40),
    ]
    summary = summarize(results)
    assert set(summary) == {"answerable", "unanswerable", "ood", "citation_valid", "latency_ms"}
    assert summary["answerable"] == {"correct": 0.5, "wrong": 0.5, "abstained": 0.0}
    assert summary["unanswerable"] == {"abstained": 1.0, "answered": 0.0}
    assert summary["ood"] == {"abstained": 1.0, "answered": 0.0}
    assert summary["citation_valid"] == 0.5
    assert summary["latency_ms"] == {"p50": 25.0, "p95": 38.5}


def test_sampling_is_seeded_and_per_category(tmp_path):
    squad = {"data": [{"title": "A", "paragraphs": [{"context": "c", "qas": [
        {"id": str(i), "question": f"q{i}?", "answers": [] if i % 2 else [{"text": "x", "answer_start": 0}], "is_impossible": bool(i % 2)}
        for i in range(20)]}]}]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(squad))
    ood = tmp_path / "o.jsonl"
    ood.write_text("\n".join(json.dumps({"question": f"o{i}?"}) for i in range(9)))
    first = sample_questions(path, ood, 3, seed=7)
    assert [q.question for q in first] == [q.question for q in sample_questions(path, ood, 3, seed=7)]
    assert [q.category for q in first] == ["answerable"] * 3 + ["unanswerable"] * 3 + ["ood"] * 3


def test_report_writes_markdown_plots_and_answers(tmp_path):
    results = [judge(EvalQuestion("answerable", "a", ["France"]), answer("Spain [1]."), 10),
               judge(EvalQuestion("ood", "d"), answer("x", Outcome.FALLBACK), 40)]
    path = write_report(tmp_path / "r", summarize(results), results, {"seed": 0})
    text = path.read_text()
    assert "| answerable.wrong (n=1) | 1.000 |" in text and "![outcomes](outcomes.png)" in text
    assert (tmp_path / "r" / "outcomes.png").stat().st_size > 1000 and (tmp_path / "r" / "latency.png").is_file()
    assert len((tmp_path / "r" / "answers.jsonl").read_text().splitlines()) == 2
