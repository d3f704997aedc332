"""`ragbot eval answers`: answer quality of the whole pipeline on SQuAD-format data (+ out-of-KB questions)."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import typer

from bot.cli.common import check_adapter_or_fail, console, err_console, fail, output_folder_or_fail, settings_or_fail
from bot.cli.main import eval_app


def _eval_pipeline(settings, kb_dir: Path, tenant: str):
    """The real pipeline over an isolated knowledge base (``kb_dir``, and its own ``tenant``: on
    Weaviate the data dir does not isolate anything, and the evaluation paragraphs went into the
    live tenant); the generator keeps the configured model cache and adapter registry."""
    from adapters.local import TransformersGenerator
    from adapters.model_store import resolve_model_dir
    from adapters.registry import AdapterRegistry
    from bot.factory import build_pipeline

    overrides = {"data_dir": kb_dir, "tenant": tenant}
    if settings.generator_backend == "transformers":
        overrides["generator_model"] = resolve_model_dir(settings.generator_model, settings.model_cache_dir)
    eval_settings = settings.with_overrides(overrides)
    pipeline = build_pipeline(eval_settings)
    stage = next(s for s in pipeline.stages if s.name == "generate")
    if isinstance(stage.generator, TransformersGenerator):
        stage.generator = TransformersGenerator(eval_settings, AdapterRegistry(settings.adapters_dir))
    return eval_settings, pipeline


def _drop_knowledge_base(eval_settings) -> None:
    """A server-side evaluation tenant goes with the run (an embedded one goes with its folder)."""
    if eval_settings is None or eval_settings.store != "weaviate":
        return
    from retrieval.factory import build_store

    try:
        build_store(eval_settings).drop_tenant()
    except Exception as error:  # noqa: BLE001 - the figures stand; say what is left behind
        err_console.print(f"warning: could not remove the evaluation tenant {eval_settings.tenant!r}: {error}", highlight=False)


def _adapter_label(settings) -> str:
    """The adapter the run used, by name ("(active)" told a reader of the report nothing)."""
    if settings.adapter:
        return settings.adapter
    from adapters.registry import AdapterRegistry

    try:
        return AdapterRegistry(settings.adapters_dir).active() or "none (base model)"
    except Exception:  # noqa: BLE001 - a label only
        return "the active one (unreadable registry)"


@eval_app.command("answers")
def eval_answers(
    squad: Path = typer.Option(..., "--squad", help="SQuAD 2.0 file: the knowledge base and its (un)answerable questions."),
    ood: Path = typer.Option(None, "--ood", help="JSON lines with a 'question' field, about topics outside the knowledge base."),
    limit: int = typer.Option(None, "--limit", min=1, help="At most N questions per category."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed (use the same one to compare models)."),
    article: list[str] = typer.Option([], "--article", help="Only questions about these articles (the KB keeps all of them)."),
    adapter: str = typer.Option(None, "--adapter", help="Adapter to use ('none' = base model); default: the active one."),
    kb_dir: Path = typer.Option(None, "--kb-dir", help="Where to build the evaluation knowledge base (default: a temporary folder)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with the metrics."),
    report: Path = typer.Option(None, "--report", help="Also write report.md, plots and per-question answers here."),
) -> None:
    """Run questions through the whole pipeline (guardrails included) and score the replies."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from adapters.base import GeneratorError
    from adapters.eval_report import write_report
    from adapters.evaluation import counts, run, sample_questions, summarize
    from adapters.finetune.records import DataError
    from retrieval.errors import RetrievalError
    from retrieval.factory import build_ingestor

    settings = settings_or_fail()
    output_folder_or_fail(report, "--report")
    for path in (squad, ood):
        if path is not None and not path.is_file():
            fail(f"{path} is not a file")
    temporary = kb_dir is None
    eval_settings = None
    kb_dir = Path(tempfile.mkdtemp(prefix="ragbot-eval-")) if temporary else kb_dir
    try:
        try:
            questions = sample_questions(squad, ood, limit, seed, article)
            if not questions:
                fail(f"{squad} has no questions to ask (a SQuAD 2.0 file with 'qas' in its paragraphs)")
            if adapter is not None:
                settings = settings.with_overrides({"adapter": adapter})
                check_adapter_or_fail(settings)
            eval_settings, pipeline = _eval_pipeline(settings, kb_dir, f"eval-{uuid.uuid4().hex[:8]}" if temporary else "eval")
            ingested = build_ingestor(eval_settings).ingest([squad])
            if ingested.documents == 0:
                fail(f"{squad}: no paragraph text to build the evaluation knowledge base from")
        except (DataError, GeneratorError, RetrievalError, ValueError) as error:
            fail(str(error))
        started = time.perf_counter()
        with Progress(TextColumn("[bold]eval answers"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                      console=err_console, transient=as_json) as bar:
            task = bar.add_task("", total=len(questions))
            results = run(pipeline, questions, lambda done, total: bar.update(task, completed=done))
        summary = summarize(results)
    finally:
        if temporary:
            _drop_knowledge_base(eval_settings)
            shutil.rmtree(kb_dir, ignore_errors=True)
    failures = sum(1 for r in results if r.generator_failure)
    if failures:  # they count as abstentions, as the asker saw a fallback; a broken model must not pass for a cautious one
        err_console.print(f"warning: the generator failed or timed out on {failures} of {len(results)} questions; they count as "
                          "abstentions (generator_failure in answers.jsonl)", highlight=False)
    context = {"squad": str(squad), "ood": str(ood) if ood else None, "limit per category": limit, "seed": seed,
               "articles": ", ".join(article) or "all", "adapter": _adapter_label(settings), "questions": counts(results),
               "generator failures (counted as abstentions)": failures,
               "knowledge base": ingested.summary(), "minutes": round((time.perf_counter() - started) / 60, 1),
               "generator backend": settings.generator_backend}
    if report is not None:
        path = write_report(report, summary, results, context)
        err_console.print(f"report written to {path}", highlight=False)
    if as_json:
        print(json.dumps(summary))
        return
    console.print(f"questions: {counts(results)}", highlight=False)
    for key, value in summary.items():
        console.print(f"{key}: {value}", highlight=False)
