"""`ragbot train-guard` (the injection detector) and `ragbot eval guardrails` (measured rates)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from bot.cli.common import console, err_console, fail, settings_or_fail
from bot.cli.main import app, eval_app


@app.command("train-guard")
def train_guard(
    data: Path = typer.Option(..., "--data", help="JSON lines with text and label (injection or benign)."),
    out: Path = typer.Option(None, "--out", help="Where to write the detector (default: DATA_DIR/models/injection-detector.npz)."),
    folds: int = typer.Option(5, min=2, max=20, help="Cross-validation folds."),
    c: float = typer.Option(10.0, "--c", min=0.0001, help="Inverse L2 strength of the logistic regression."),
    target_fpr: float = typer.Option(0.015, min=0.0, max=0.5, help="False-positive rate the threshold is chosen for (out-of-fold)."),
) -> None:
    """Train the learned injection detector, report cross-validated rates, save it as a small .npz."""
    from guardrails.injection.detector import DEFAULT_PATH
    from guardrails.injection.training import TrainingDataError, load_labelled, train_detector
    from retrieval.embedder import get_embedder

    settings = settings_or_fail()
    try:
        texts, labels = load_labelled(data)
    except TrainingDataError as error:
        fail(str(error))
    if min(int(labels.sum()), int(len(labels) - labels.sum())) < folds:
        fail(f"{data}: need at least {folds} examples of each label for {folds}-fold cross-validation")
    from guardrails.normalize import normalize_text

    texts = [normalize_text(t) for t in texts]
    console.print(f"embedding {len(texts)} examples ({int(labels.sum())} injections)...")
    embeddings = get_embedder().encode(texts, batch_size=32)
    detector, cv = train_detector(texts, labels, embeddings, c=c, folds=folds, target_fpr=target_fpr)
    path = out or settings.model_cache_dir / "injection-detector.npz"  # the shipped one is only replaced on purpose
    if path.suffix != ".npz":  # numpy adds it anyway; say where the file really is
        path = path.with_name(path.name + ".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    detector.save(path)
    console.print_json(json.dumps({"saved": str(path), "bytes": path.stat().st_size, "cross_validation": cv.as_dict()}))
    if path.resolve() != DEFAULT_PATH.resolve():
        err_console.print(f"use it with RAGBOT_INJECTION_DETECTOR={path} (or injection_detector in the settings file)", highlight=False)


@eval_app.command("guardrails")
def eval_guardrails(
    injections: Path = typer.Option(None, "--injections", help="JSON lines: text, label (injection or benign)."),
    pii: Path = typer.Option(None, "--pii", help="presidio-research JSON: full_text, spans."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    examples: int = typer.Option(0, "--examples", min=0, help="Also print this many misses and false positives of each check."),
) -> None:
    """Detection and false-positive rates of the injection check and the PII redactor."""
    from guardrails.evaluation import EvalDataError, eval_injections, eval_pii

    if injections is None and pii is None:
        fail("give --injections FILE.jsonl and/or --pii FILE.json")
    import torch

    # one sentence at a time: a second intra-op thread only adds waiting (badly so on a busy CPU)
    torch.set_num_threads(1)
    report: dict = {}
    extra: dict = {}
    try:
        if injections is not None:
            report["injection"], extra["injection"] = eval_injections(injections)
        if pii is not None:
            report["pii"], extra["pii"] = eval_pii(pii)
    except EvalDataError as error:
        fail(str(error))
    if as_json:
        print(json.dumps(report))
    else:
        _render(report)
    if examples:
        _print_examples(extra, examples)


def _render(report: dict) -> None:
    if "injection" in report:
        r = report["injection"]
        console.print(f"injection: TPR {r['tpr']:.3f}  FPR {r['fpr']:.3f}  latency p50 {r['latency_ms']['p50']:.1f} ms")
    if "pii" in report:
        r = report["pii"]
        console.print(f"pii: precision {r['precision']:.3f}  recall {r['recall']:.3f}  F2 {r['f2']:.3f}")
        for entity, s in sorted(r["per_entity"].items()):
            console.print(f"  {entity:<18} precision {s['precision']:.3f}  recall {s['recall']:.3f}  n={s['count']}")


def _print_examples(extra: dict, n: int) -> None:
    if "injection" in extra:
        e = extra["injection"]
        fps = [t for t, y, f in zip(e["texts"], e["labels"], e["flagged"]) if f and not y]
        fns = [t for t, y, f in zip(e["texts"], e["labels"], e["flagged"]) if y and not f]
        for title, items in (("injection false positives", fps), ("injection misses", fns)):
            console.print(f"[bold]{title}[/] ({len(items)})")
            for text in items[:n]:
                console.print(f"  - {text[:160]!r}", highlight=False, markup=False)
    if "pii" in extra:
        for title, key in (("PII false positives", "false_positives"), ("PII misses", "misses")):
            items = extra["pii"][key]
            console.print(f"[bold]{title}[/] ({len(items)})")
            for etype, value, _text in items[:n]:
                console.print(f"  - {etype}: {value!r}", highlight=False, markup=False)
