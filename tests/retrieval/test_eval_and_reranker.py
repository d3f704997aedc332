"""`ragbot eval retrieval` and `ragbot train-reranker` end to end on a tiny SQuAD file (real MiniLM)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from retrieval.evaluation import auroc, rank_metrics

MINI = Path(__file__).with_name("mini_squad.json")
KEYS = {"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "latency_ms", "baselines", "gate_auroc", "gate_keep", "gate_pass_ood"}


def test_rank_metrics_and_auroc_by_hand() -> None:
    metrics = rank_metrics([["a", "b"], ["x", "y", "b"], ["z"]], ["a", "b", "b"])
    assert metrics["recall@1"] == pytest.approx(1 / 3, abs=1e-4)
    assert metrics["recall@5"] == pytest.approx(2 / 3, abs=1e-4)
    assert metrics["mrr@10"] == pytest.approx((1 + 1 / 3) / 3, abs=1e-4)
    assert metrics["ndcg@10"] == pytest.approx((1 + 0.5) / 3, abs=1e-4)
    assert auroc([0.9, 0.8], [0.1, 0.85]) == pytest.approx(0.75)
    assert auroc([0.5], [0.5]) == pytest.approx(0.5)


@pytest.fixture
def runner(monkeypatch, tmp_path):
    monkeypatch.setenv("RAGBOT_DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


@pytest.mark.slow
def test_eval_retrieval_json_has_exactly_the_issue_keys(runner, tmp_path: Path) -> None:
    ood = tmp_path / "ood.jsonl"
    ood.write_text('{"question": "Who won the 1998 football world cup?"}\n{"question": "What is the capital of Mongolia?"}\n')
    result = runner.invoke(app, ["eval", "retrieval", "--squad", str(MINI), "--ood", str(ood), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert set(report) == KEYS
    assert set(report["baselines"]) == {"bm25", "vector"}
    assert report["recall@1"] == 1.0 and report["gate_auroc"] == 1.0
    assert report["gate_keep"] == 1.0 and report["gate_pass_ood"] == 0.0
    assert set(report["latency_ms"]) == {"p50", "p95"}
    assert not (tmp_path / "data").exists()  # the evaluation knowledge base is isolated


@pytest.mark.slow
def test_eval_retrieval_with_likelihood_reranking(runner, monkeypatch, smol_dir: Path) -> None:
    from retrieval.likelihood import QueryLikelihoodReranker

    depths = []
    original = QueryLikelihoodReranker.rerank

    def spy(self, query, hits, depth, weight):
        depths.append(depth)
        return original(self, query, hits, depth, weight)

    monkeypatch.setattr(QueryLikelihoodReranker, "rerank", spy)
    monkeypatch.setenv("RAGBOT_LIKELIHOOD_RERANK_DEPTH", "2")
    monkeypatch.setenv("RAGBOT_GENERATOR_MODEL", str(smol_dir))
    result = runner.invoke(app, ["eval", "retrieval", "--squad", str(MINI)])
    assert result.exit_code == 0, result.output
    assert "reranking: likelihood" in result.output
    assert depths and set(depths) == {2}  # every search of the ranking and latency passes went through it


def test_eval_retrieval_with_likelihood_reranking_and_a_bad_model_is_one_line(runner, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAGBOT_LIKELIHOOD_RERANK_DEPTH", "2")
    monkeypatch.setenv("RAGBOT_GENERATOR_MODEL", str(tmp_path))
    result = runner.invoke(app, ["eval", "retrieval", "--squad", str(MINI), "--json"])
    assert result.exit_code == 2 and "config.json" in result.output and "Traceback" not in result.output


def test_eval_retrieval_bad_file_is_one_line(runner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = runner.invoke(app, ["eval", "retrieval", "--squad", str(bad), "--json"])
    assert result.exit_code == 2 and "bad.json" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_train_reranker_then_rerank(runner, tmp_path: Path, make_settings, corpus: Path) -> None:
    out = tmp_path / "rr"
    result = runner.invoke(app, ["train-reranker", "--squad", str(MINI), "--out", str(out), "--max-questions", "3", "--negatives", "1"])
    assert result.exit_code == 0, result.output
    assert (out / "config.json").is_file() and json.loads((out / "ragbot_training.json").read_text())["groups"] >= 1

    from retrieval.factory import build_ingestor, build_retriever

    settings = make_settings(reranker_model=out)
    build_ingestor(settings).ingest([corpus])
    hits = build_retriever(settings).search("How many days of annual leave?", k=5, alpha=0.5)
    assert hits and all(h.rerank is not None and 0.0 <= h.rerank <= 1.0 for h in hits)
