"""Fine-tune a cross-encoder from the packaged MiniLM weights on SQuAD-format questions (CPU).

Each training question forms a group: the child chunk of its gold paragraph that holds the
answer, and hard negatives: the best chunks of other paragraphs that hybrid search returns. The loss is listwise (softmax over the
group, which is what ranking needs) plus pointwise BCE (so the sigmoid of the logit is an
absolute probability the relevance gate can use). Unanswerable SQuAD questions are kept as
training questions: they were written against their paragraph, so it is still the topical
match a retriever should find.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from retrieval.chunking import Chunker, embedding_text
from retrieval.evaluation import LabelledQuestion, squad_questions
from retrieval.loaders import load_squad
from retrieval.reranker import MAX_LENGTH, passage_text


@dataclass
class TrainingConfig:
    epochs: int = 1
    negatives: int = 5
    groups_per_step: int = 4
    learning_rate: float = 1e-4
    head_lr_factor: float = 20.0
    warmup_share: float = 0.1
    seed: int = 13
    alpha: float = 0.5
    depth: int = 30
    include_unanswerable: bool = True
    trainable_layers: int = 3  # top encoder layers fine-tuned; the rest stay frozen (halves CPU time)
    device: str = "auto"  # "auto": CUDA when available, else CPU
    holdout: str | None = None  # "k/n": leave out articles whose index % n == k (for honest evaluation)
    max_questions: int | None = None


@dataclass
class Group:
    question: str
    positive: str
    negatives: list[str]


def article_selector(spec: str | None, keep_selected: bool) -> Callable[[int], bool]:
    """``"k/n"`` selects articles whose index modulo n is k."""
    if not spec:
        return lambda index: True
    try:
        k, n = (int(part) for part in spec.split("/"))
        if not 0 <= k < n:
            raise ValueError
    except ValueError:
        raise ValueError(f"article split must look like k/n with 0 <= k < n, got {spec!r}") from None
    return (lambda index: index % n == k) if keep_selected else (lambda index: index % n != k)


def questions_for_articles(path: Path, selector: Callable[[int], bool], answerable: bool = True) -> list[LabelledQuestion]:
    return squad_questions(path, answerable, articles=selector)


def build_groups(squad: Path, retriever, chunker: Chunker, config: TrainingConfig, progress=None) -> list[Group]:
    """Gold passage plus hybrid-search hard negatives for every training question."""
    keep = article_selector(config.holdout, keep_selected=False)
    questions = questions_for_articles(squad, keep, True)
    if config.include_unanswerable:
        questions += questions_for_articles(squad, keep, False)
    random.Random(config.seed).shuffle(questions)
    if config.max_questions:
        questions = questions[: config.max_questions]
    gold_chunks = {d.doc_id: chunker.chunk(d) for d in load_squad(Path(squad))}
    embedder = retriever._embedder()
    vectors = embedder.encode([q.question for q in questions])
    all_chunks = [c for chunks in gold_chunks.values() for c in chunks]
    chunk_vectors = dict(zip((c.chunk_id for c in all_chunks), embedder.encode([embedding_text(c) for c in all_chunks])))
    groups = []
    for n, (item, vector) in enumerate(zip(questions, vectors), start=1):
        candidates = gold_chunks.get(item.gold) or []
        if not candidates:
            continue
        with_answer = [c for c in candidates if item.answer and item.answer in c.text]
        if not with_answer:  # unanswerable, or the answer straddles two children: the closest child
            with_answer = [max(candidates, key=lambda c: float(chunk_vectors[c.chunk_id] @ vector))]
        negatives = []
        for hit in retriever.store.hybrid_search(item.question, vector, k=config.depth, alpha=config.alpha):
            if hit.chunk.doc_id == item.gold:
                continue  # siblings of the gold child are not negatives: the document is relevant
            negatives.append(passage_text(hit.chunk))
            if len(negatives) >= config.negatives:
                break
        if negatives:
            groups.append(Group(item.question, passage_text(with_answer[0]), negatives))
        if progress and n % 100 == 0:
            progress("mining", n, len(questions))
    return groups


def freeze_lower_layers(model, trainable_layers: int) -> None:
    """Freeze embeddings and all but the top ``trainable_layers`` encoder layers (BERT-style models)."""
    base = getattr(model, model.base_model_prefix, None)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if base is None or layers is None or trainable_layers >= len(layers):
        return
    for parameter in base.embeddings.parameters():
        parameter.requires_grad = False
    for layer in layers[: len(layers) - trainable_layers]:
        for parameter in layer.parameters():
            parameter.requires_grad = False


def train_cross_encoder(groups: list[Group], base_model: Path, out_dir: Path, config: TrainingConfig, progress=None) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base_model))
    model = AutoModelForSequenceClassification.from_pretrained(str(base_model), num_labels=1)
    freeze_lower_layers(model, config.trainable_layers)
    device = "cuda" if config.device in {"auto", "cuda"} and torch.cuda.is_available() else "cpu"
    model.to(device)
    model.train()
    steps_per_epoch = max(1, len(groups) // config.groups_per_step)
    total_steps = steps_per_epoch * config.epochs
    head = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("classifier")]
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("classifier")]
    optimizer = torch.optim.AdamW(  # the new head starts from random weights: it needs a larger step than the body
        [{"params": body, "lr": config.learning_rate}, {"params": head, "lr": config.learning_rate * config.head_lr_factor}],
        weight_decay=0.01,
    )
    schedule = get_linear_schedule_with_warmup(optimizer, int(total_steps * config.warmup_share), total_steps)
    bce = torch.nn.BCEWithLogitsLoss()
    started, step, last_loss = time.perf_counter(), 0, 0.0
    for _epoch in range(config.epochs):
        order = list(range(len(groups)))
        rng.shuffle(order)
        for start in range(0, steps_per_epoch * config.groups_per_step, config.groups_per_step):
            batch = [groups[i] for i in order[start : start + config.groups_per_step]]
            width = 1 + config.negatives
            queries, passages, labels = [], [], []
            for group in batch:
                negs = (group.negatives * width)[: config.negatives]  # pad short groups by repetition
                for j, passage in enumerate([group.positive, *negs]):
                    queries.append(group.question)
                    passages.append(passage)
                    labels.append(1.0 if j == 0 else 0.0)
            encoded = tokenizer(queries, passages, truncation="only_second", max_length=MAX_LENGTH, padding=True, return_tensors="pt").to(device)
            logits = model(**encoded).logits.reshape(len(batch), width)
            listwise = torch.nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long, device=device))
            pointwise = bce(logits.reshape(-1), torch.tensor(labels, device=device))
            loss = listwise + pointwise
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            last_loss = float(loss.detach()) if step == 1 else 0.9 * last_loss + 0.1 * float(loss.detach())
            if progress and step % 10 == 0:
                progress("training", step, total_steps)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.to("cpu")
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    stats = {"groups": len(groups), "steps": step, "device": device, "loss": round(last_loss, 4), "seconds": round(time.perf_counter() - started, 1),
             "config": asdict(config), "base_model": str(base_model)}
    (out_dir / "ragbot_training.json").write_text(json.dumps(stats, indent=2))
    return stats
