"""`ragbot finetune build-data | validate | export | train`: teach the generator ragbot's answer style."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from bot.cli.common import console, fail, no_overwrite_or_fail, output_folder_or_fail, settings_or_fail
from bot.cli.main import app

finetune_app = typer.Typer(help="Build training data and train LoRA adapters for the generator.", no_args_is_help=True)
app.add_typer(finetune_app, name="finetune")


def _tokenizer(settings):
    from transformers import AutoTokenizer

    from adapters.model_store import resolve_model_dir

    model_dir = resolve_model_dir(settings.generator_model, settings.model_cache_dir)
    return model_dir, AutoTokenizer.from_pretrained(model_dir)


@finetune_app.command("build-data")
def build_data(
    squad: Path = typer.Option(..., "--squad", help="SQuAD 2.0 format JSON (one paragraph = one document)."),
    out: Path = typer.Option(..., "--out", help="Folder for train.jsonl, val.jsonl and build.json."),
    max_passages: int = typer.Option(2, min=1, max=10, help="Passages per prompt (gold + distractors)."),
    min_passages: int = typer.Option(1, min=1, max=10, help="Fewest passages per prompt (match the bot's top_k, 1 by default)."),
    no_gold_share: float = typer.Option(0.25, min=0.0, max=1.0, help="Share of answerable questions also asked without their passage."),
    abstain_share: float = typer.Option(0.3, min=0.0, max=0.95, help="At most this share of examples teach the abstain sentence."),
    validation_share: float = typer.Option(0.1, min=0.0, max=0.5),
    holdout: list[str] = typer.Option([], "--holdout-article", help="Article titles left out entirely (for an honest eval)."),
    passage_words: int = typer.Option(None, min=20, help="Trim each passage to a window of this many words (around the answer in the gold one)."),
    seed: int = typer.Option(0),
    force: bool = typer.Option(False, "--force", help="Replace training data already in --out."),
) -> None:
    """Chat-format training data from SQuAD: passages as ragbot shows them, cited answers or "I don't know."."""
    from adapters.base import GeneratorError
    from adapters.finetune.prepare import TRAIN_FILE, VAL_FILE, chat_token_counter, validate
    from adapters.finetune.records import DataError, split_by_document, write_records
    from adapters.finetune.squad import BuildOptions, build_examples, load_squad

    settings = settings_or_fail()
    output_folder_or_fail(out, "--out")
    no_overwrite_or_fail(out, (TRAIN_FILE, VAL_FILE, "build.json"), force, "training data")
    started = time.perf_counter()
    try:
        paragraphs, questions = load_squad(squad)
        if min_passages > max_passages:
            fail(f"--min-passages ({min_passages}) is more than --max-passages ({max_passages})")
        missing = sorted(set(h.replace("_", " ") for h in holdout) - {p.title for p in paragraphs})
        if missing:
            fail(f"--holdout-article {missing[0]!r} is not an article in {squad}")
        options = BuildOptions(max_passages=max_passages, min_passages=min_passages, no_gold_share=no_gold_share,
                               abstain_share=abstain_share, validation_share=validation_share, holdout_articles=tuple(holdout), passage_words=passage_words, seed=seed)
        records = build_examples(paragraphs, questions, options)
        for number, record in enumerate(records, start=1):
            record.line = number
        _, tokenizer = _tokenizer(settings)
        kept, exact, near, too_long = validate(records, chat_token_counter(tokenizer), settings.max_context_tokens)
        train, val, mixed = split_by_document(kept, validation_share, seed)
    except (DataError, GeneratorError) as error:
        fail(str(error))
    kinds = {k: sum(1 for r in train + val if r.meta.get("kind") == k) for k in ("answerable", "unanswerable", "no_gold")}
    if not train or not kinds["answerable"]:  # empty files, or data that teaches only "I don't know."
        fail(f"{squad}: no {'training examples' if not train else 'answerable questions'} to build from "
             f"({len(paragraphs)} paragraphs, {len(questions)} questions, {len(holdout)} article(s) held out, "
             f"{len(too_long)} example(s) too long for max_context_tokens); nothing written")
    write_records(out / TRAIN_FILE, train)
    write_records(out / VAL_FILE, val)
    summary = {"squad": str(squad), "train": len(train), "val": len(val), "kinds": kinds, "too_long": len(too_long),
               "exact_duplicates": exact, "near_duplicates": near, "mixed_dropped": mixed, "holdout_articles": list(holdout),
               "options": options.__dict__, "seconds": round(time.perf_counter() - started, 1)}
    (out / "build.json").write_text(json.dumps(summary, indent=2, default=list))
    console.print(f"wrote {len(train)} train and {len(val)} validation examples to {out} ({kinds}; "
                  f"{len(too_long)} too long, {exact} exact and {near} near duplicates removed)", highlight=False, soft_wrap=True)


@finetune_app.command("validate")
def validate_cmd(data: Path = typer.Argument(..., help="A .jsonl file or a folder of them.")) -> None:
    """Check training data (schema, roles, lengths, duplicates, split) without training."""
    from adapters.finetune.prepare import chat_token_counter, load_data_dir
    from adapters.finetune.records import DataError

    settings = settings_or_fail()
    if not data.exists():
        fail(f"{data} does not exist")
    _, tokenizer = _tokenizer(settings)
    try:
        prepared = load_data_dir(data, chat_token_counter(tokenizer), settings.max_context_tokens)
    except DataError as error:
        fail(str(error))
    console.print(f"ok: {prepared.summary()}", highlight=False, soft_wrap=True)


@finetune_app.command("train")
def train_cmd(
    data: Path = typer.Option(..., "--data", help="Folder from build-data / export (or one .jsonl file)."),
    name: str = typer.Option(None, "--name", help="Adapter name in the registry (default: lora-<timestamp>)."),
    rank: int = typer.Option(8, min=1, max=256),
    alpha: int = typer.Option(16, min=1, max=512),
    lr: float = typer.Option(3e-4, min=1e-6, max=1e-1),
    epochs: float = typer.Option(1.0, min=0.01, max=100.0),
    max_steps: int = typer.Option(None, min=1, help="Optimizer steps (overrides --epochs)."),
    grad_accum: int = typer.Option(8, min=1, max=1024),
    eval_every: int = typer.Option(25, min=1),
    eval_examples: int = typer.Option(48, min=1),
    patience: int = typer.Option(3, min=1),
    save_every: int = typer.Option(25, min=1),
    max_minutes: float = typer.Option(None, min=0.1, help="Stop (and checkpoint) after this long; rerun to resume."),
    stop_at_step: int = typer.Option(None, min=1, help="Stop and save at this step; the learning-rate schedule still follows --epochs/--max-steps."),
    max_examples: int = typer.Option(None, min=1, help="Use at most this many training examples."),
    top_layers: int = typer.Option(None, min=1, help="Adapt only the top N transformer layers (cheaper backward pass on CPU)."),
    qlora: bool = typer.Option(False, "--qlora", help="4-bit QLoRA (bitsandbytes; CUDA only)."),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore existing checkpoints instead of resuming."),
    use: bool = typer.Option(False, "--use", help="Make the new adapter the active one."),
    force: bool = typer.Option(False, "--force", help="Replace a finished adapter of the same name (a stopped run resumes without it)."),
    opt_in: bool = typer.Option(False, "--opt-in", help="Mark it opt-in: shipped in adapters/pretrained it is listed but never the default."),
    seed: int = typer.Option(0),
) -> None:
    """Train a LoRA adapter (resumable) and register it with its metadata."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from adapters.base import GeneratorError
    from adapters.finetune.prepare import chat_token_counter, load_data_dir
    from adapters.finetune.records import DataError, file_hash
    from adapters.finetune.train import ResumeMismatch, TrainConfig, Trainer, latest_checkpoint, metadata
    from adapters.local import pick_device
    from adapters.registry import AdapterRegistry, check_name

    settings = settings_or_fail()
    named = name is not None
    name = name or time.strftime("lora-%Y%m%d-%H%M%S", time.gmtime())
    runs = settings.adapters_dir / ".runs" / name
    try:
        check_name(name)
        resuming = not fresh and latest_checkpoint(runs) is not None
        if (settings.adapters_dir / name).exists() and not resuming and not force:
            active = " (the active adapter)" if AdapterRegistry(settings.adapters_dir).active() == name else ""
            fail(f"adapter {name!r}{active} already exists in {settings.adapters_dir / name}; pass --force to replace it, or choose another --name")
        device = pick_device(settings.device)
        if qlora and device != "cuda":
            fail("--qlora needs a CUDA GPU; on CPU train plain LoRA (leave out --qlora)")
        model_dir, tokenizer = _tokenizer(settings)
        prepared = load_data_dir(data, chat_token_counter(tokenizer), settings.max_context_tokens, seed=seed)
    except (DataError, GeneratorError) as error:
        fail(str(error))
    if not prepared.train:
        fail(f"no training examples left in {data} after validation")
    train = prepared.train[:max_examples] if max_examples else prepared.train
    console.print(f"data: {prepared.summary()}; device {device}", highlight=False, soft_wrap=True)
    config = TrainConfig(rank=rank, alpha=alpha, learning_rate=lr, epochs=epochs, max_steps=max_steps, grad_accum=grad_accum,
                         eval_every=eval_every, eval_examples=eval_examples, patience=patience, save_every=save_every,
                         max_minutes=max_minutes, stop_at_step=stop_at_step, seed=seed, qlora=qlora, top_layers=top_layers)
    data_hash = file_hash(prepared.files)
    run_data = data_hash + (f":first{max_examples}" if max_examples else "")  # what a checkpoint was trained on
    trainer = Trainer(model_dir, runs, config, device)
    if resuming:
        console.print(f"resuming from {trainer.latest_checkpoint()}", highlight=False)
    with Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                  TextColumn("{task.description}"), console=console) as bar:
        task = bar.add_task("", total=None)

        def show(step: int, total: int, metrics: dict[str, float]) -> None:
            text = " ".join(f"{k} {v:.3f}" if k != "tokens_per_s" else f"{v:.0f} tok/s" for k, v in metrics.items())
            bar.update(task, completed=step, total=total, description=text)
            if "eval_loss" in metrics or (not console.is_terminal and step % 5 == 0):
                bar.console.print(f"step {step}/{total}: {text}", highlight=False)

        try:
            result = trainer.train(train, prepared.val, progress=show, resume=not fresh, data_hash=run_data)
        except ResumeMismatch as error:
            fail(f"cannot resume run {name!r}: {error}; start over with --fresh, or train under another --name")
    counts = {"train": len(train), "val": len(prepared.val)}
    meta = metadata(model_dir, data_hash, config, result, counts, device)
    meta["name"] = name
    unfinished = result.stopped_because.startswith("time limit")
    if unfinished:  # saved so it can be compared and resumed, never switched on by itself
        meta["unfinished"] = True
    if opt_in:
        meta["default"] = False
    target = trainer.save_adapter(settings.adapters_dir / name, meta)
    console.print(f"{result.stopped_because}: {result.steps} steps, {result.tokens_seen} tokens in {result.seconds / 60:.1f} min "
                  f"({result.tokens_per_s:.0f} tok/s); eval loss {meta['metrics']['initial_eval_loss']} -> {meta['metrics']['best_eval_loss']}; "
                  f"adapter {name!r} saved to {target}", highlight=False, soft_wrap=True)
    if result.stopped_because.startswith("time limit") and not named:
        console.print(f"to resume, rerun with --name {name}", highlight=False)
    if use and unfinished:
        console.print(f"not switched to {name!r}: its training stopped at the time limit; resume it (same command), "
                      f"or switch to it as it is with `ragbot adapters use {name}`", highlight=False, soft_wrap=True)
    elif use:
        AdapterRegistry(settings.adapters_dir).use(name)
        console.print(f"{name!r} is now the active adapter", highlight=False)


@finetune_app.command("export")
def export_cmd(
    out: Path = typer.Option(..., "--out", help="Folder for export.jsonl (train with `finetune train --data`)."),
    force: bool = typer.Option(False, "--force", help="Replace an export.jsonl already in --out."),
) -> None:
    """Helpful answers and human answers to escalations from the bot's database, as training records."""
    from adapters.finetune.export import export_records, pipeline_fetcher
    from adapters.finetune.records import write_records
    from bot.state.db import Database

    settings = settings_or_fail()
    output_folder_or_fail(out, "--out")
    no_overwrite_or_fail(out, ("export.jsonl",), force, "an export")
    try:
        db = Database(settings.effective_database_url)
        records, report = export_records(db, pipeline_fetcher(settings))
    except Exception as error:  # noqa: BLE001 - a missing database or store is a one-line error
        fail(f"export failed: {type(error).__name__}: {error}")
    written = write_records(out / "export.jsonl", records)
    skipped = ", ".join(f"{n} {why}" for why, n in report.skipped.items()) or "none"
    console.print(f"wrote {written} records to {out / 'export.jsonl'} ({report.helpful} helpful answers, {report.human} human answers; "
                  f"skipped: {skipped})", highlight=False, soft_wrap=True)
