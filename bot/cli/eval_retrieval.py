"""`ragbot eval retrieval`: ranking quality, baselines and the relevance gate on SQuAD-format data."""

from __future__ import annotations

import json
import tempfile
import uuid
from functools import partial
from pathlib import Path

import typer
from rich.table import Table

from adapters.base import GeneratorError
from bot.cli.common import console, err_console, fail, settings_or_fail
from bot.cli.main import eval_app
from retrieval.errors import RetrievalError


@eval_app.command("retrieval")
def eval_retrieval(
    squad: Path = typer.Option(..., "--squad", help="SQuAD 2.0 JSON: its paragraphs form the knowledge base, its answerable questions are asked."),
    ood: Path | None = typer.Option(None, "--ood", help="JSON lines with a 'question' field the knowledge base cannot answer."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    articles: str | None = typer.Option(None, help="Ask only questions of articles k/n (index % n == k), e.g. those a reranker was not trained on."),
    ood_limit: int | None = typer.Option(None, min=1, help="Use only N out-of-KB questions, spread evenly over the file (quick runs)."),
) -> None:
    """Build an isolated knowledge base from SQuAD paragraphs and measure retrieval and the gate."""
    from adapters.model_store import resolve_model_dir
    from retrieval.evaluation import RetrievalEvaluation, ood_questions, squad_questions
    from retrieval.factory import build_ingestor, build_relevance_scorer, build_retriever, likelihood_reranker
    from retrieval.reranker_training import article_selector, questions_for_articles

    settings = settings_or_fail()
    for path in (squad, ood):
        if path is not None and not path.is_file():
            fail(f"no such file: {path}")
    try:
        questions = questions_for_articles(squad, article_selector(articles, True)) if articles else squad_questions(squad)
        negatives = ood_questions(ood) if ood else None
        if ood and not negatives:
            fail(f"{ood} holds no questions (JSON lines with a 'question' field)")
        if negatives and ood_limit and ood_limit < len(negatives):
            negatives = negatives[:: len(negatives) // ood_limit][:ood_limit]  # evenly spread over the file's topics
        if not questions:
            fail(f"{squad} has no answerable questions")
        with tempfile.TemporaryDirectory(prefix="ragbot-eval-") as scratch:
            overrides = {"data_dir": scratch, "tenant": f"eval-{uuid.uuid4().hex[:8]}"}
            if settings.likelihood_rerank_depth:  # the user's converted model, not a fresh conversion in the scratch dir
                overrides["generator_model"] = resolve_model_dir(settings.generator_model, settings.model_cache_dir)
            kb = settings.with_overrides(overrides)
            store_note = err_console.status("building the evaluation knowledge base...") if not as_json else None
            if store_note:
                store_note.start()
            try:
                built = build_ingestor(kb).ingest([squad])
            finally:
                if store_note:
                    store_note.stop()
            if built.documents == 0:
                fail(f"{squad}: no paragraph text to build the evaluation knowledge base from ({'; '.join(built.failures.values()) or 'empty'})")
            retriever = build_retriever(kb)
            rerank = None
            if kb.likelihood_rerank_depth:
                scorer = likelihood_reranker(kb)
                rerank = partial(scorer.rerank, depth=kb.likelihood_rerank_depth, weight=kb.likelihood_rerank_weight)
            evaluation = RetrievalEvaluation(retriever, build_relevance_scorer(kb), depth=max(kb.candidates, 50), alpha=kb.alpha,
                                             rerank=rerank)

            def show(done: int, total: int) -> None:
                if not as_json:
                    err_console.print(f"  {done}/{total} searches", highlight=False)

            report = evaluation.evaluate(questions, negatives, kb.min_relevance, progress=show)
            drop = getattr(retriever.store, "drop_tenant", None)
            if callable(drop):
                drop()
    except (RetrievalError, GeneratorError, ValueError) as error:
        fail(str(error))
    if as_json:
        print(json.dumps(report))
        return
    rerankers = [name for name, on in (("cross-encoder", settings.reranker_model), ("likelihood", settings.likelihood_rerank_depth)) if on]
    table = Table(title=f"retrieval on {squad.name}: {len(questions)} questions (alpha {settings.alpha}, reranking: {', '.join(rerankers) or 'off'})")
    for column in ("method", "recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "p50 ms", "p95 ms"):
        table.add_column(column, justify="right" if column != "method" else "left")
    rows = [("hybrid" + "".join(f" + {name}" for name in rerankers), report)] + list(report["baselines"].items())
    for name, metrics in rows:
        table.add_row(name, *(f"{metrics[k]:.3f}" for k in ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")),
                      f"{metrics['latency_ms']['p50']:.1f}", f"{metrics['latency_ms']['p95']:.1f}")
    console.print(table)
    if "gate_auroc" in report:
        console.print(
            f"gate: AUROC {report['gate_auroc']:.3f}; at min_relevance {settings.min_relevance}: "
            f"keeps {report['gate_keep']:.1%} of KB questions, passes {report['gate_pass_ood']:.1%} of out-of-KB ones",
            highlight=False,
        )
