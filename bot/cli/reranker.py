"""`ragbot train-reranker`: fine-tune a cross-encoder on SQuAD-format data, on CPU."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from bot.cli.common import console, fail, no_overwrite_or_fail, output_folder_or_fail, settings_or_fail
from bot.cli.main import app
from retrieval.errors import RetrievalError


@app.command("train-reranker")
def train_reranker(
    squad: Path = typer.Option(..., "--squad", help="SQuAD 2.0 JSON with questions and their paragraphs."),
    out: Path | None = typer.Option(None, "--out", help="Where to save the model (default: DATA_DIR/models/reranker)."),
    epochs: int = typer.Option(1, min=1, max=20),
    negatives: int = typer.Option(5, min=1, max=30, help="Hard negatives per question, from hybrid search."),
    holdout: str | None = typer.Option(None, help="Leave out articles k/n (index % n == k) to evaluate on them later."),
    max_questions: int | None = typer.Option(None, min=1, help="Train on at most this many questions (quick runs)."),
    trainable_layers: int = typer.Option(3, min=1, max=24, help="Top encoder layers to fine-tune (fewer: faster on CPU)."),
    seed: int = typer.Option(13),
    force: bool = typer.Option(False, "--force", help="Replace a model already in --out."),
) -> None:
    """Train the cross-encoder the reranking stage loads (set reranker_model to the output folder)."""
    from retrieval.embedder import packaged_minilm_path
    from retrieval.factory import build_ingestor, build_retriever, chunker_for
    from retrieval.reranker_training import TrainingConfig, article_selector, build_groups, train_cross_encoder

    settings = settings_or_fail()
    if not squad.is_file():
        fail(f"no such file: {squad}")
    target = out or settings.model_cache_dir / "reranker"
    output_folder_or_fail(target, "--out")
    no_overwrite_or_fail(target, ("config.json", "model.safetensors"), force, "a model")
    config = TrainingConfig(epochs=epochs, negatives=negatives, holdout=holdout, max_questions=max_questions, seed=seed, trainable_layers=trainable_layers, device=settings.device,
                            alpha=settings.alpha, depth=max(settings.candidates, 10))
    try:
        article_selector(holdout, keep_selected=False)
        with tempfile.TemporaryDirectory(prefix="ragbot-train-") as scratch:
            kb = settings.with_overrides({"data_dir": scratch, "store": "lancedb", "tenant": "train", "reranker_model": None})
            build_ingestor(kb).ingest([squad])

            def show(phase: str, done: int, total: int) -> None:
                console.print(f"{phase}: {done}/{total}", highlight=False)

            groups = build_groups(squad, build_retriever(kb), chunker_for(kb), config, show)
            if not groups:
                fail(f"{squad} gave no training questions")
            stats = train_cross_encoder(groups, packaged_minilm_path(), target, config, show)
    except (RetrievalError, ValueError) as error:
        fail(str(error))
    console.print(f"trained on {stats['groups']} questions in {stats['seconds']} s (loss {stats['loss']}); saved to {target}", highlight=False)
    console.print(f"use it with: RAGBOT_RERANKER_MODEL={target}", highlight=False)
