"""Training examples from SQuAD-format data, in the exact shape ragbot prompts with.

Each question becomes a chat: numbered passages (the gold paragraph among distractors found
by a hybrid BM25 + MiniLM search over the other paragraphs, or distractors only), the
question, and the target: the gold answer citing its passage (``France [2].``) or the
abstain sentence for SQuAD's unanswerable questions and for gold-less contexts.
Distractors come from the same side of the train/validation split as the gold paragraph,
so no passage is in both.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adapters.base import Passage
from retrieval.squad import SquadFormatError, read_squad
from adapters.finetune.records import DataError, Record, document_side
from adapters.prompt import ABSTAIN_SENTENCE, build_messages


@dataclass
class Paragraph:
    doc_id: str
    title: str
    text: str


@dataclass
class Question:
    id: str
    text: str
    doc_id: str
    answers: list[str]
    impossible: bool


def load_squad(path: Path) -> tuple[list[Paragraph], list[Question]]:
    """Paragraphs (``<title>#<index>`` ids, as in the shared data) and their questions."""
    try:
        found = read_squad(path, unique_titles=True)
    except SquadFormatError as error:
        raise DataError(str(error)) from None
    paragraphs, questions = [], []
    for p in found:
        doc_id = p.doc_id if p.title else f"untitled#{p.index}"
        paragraphs.append(Paragraph(doc_id, (p.title or "untitled").replace("_", " "), p.context))
        questions.extend(Question(q.id, q.question, doc_id, q.answers, q.impossible) for q in p.questions)
    return paragraphs, questions


def best_answer(answers: list[str]) -> str:
    """The answer most annotators gave (the shortest among ties)."""
    counts = Counter(a.strip() for a in answers)
    return sorted(counts, key=lambda a: (-counts[a], len(a)))[0]


class HybridNeighbours:
    """In-memory hybrid search over paragraphs (BM25 + MiniLM cosine, relative-score fusion),
    the same kind of search ragbot retrieves with, to pick realistic distractors."""

    def __init__(self, paragraphs: list[Paragraph], alpha: float = 0.5) -> None:
        import bm25s

        from retrieval.embedder import get_embedder

        self.paragraphs = paragraphs
        self.alpha = alpha
        self.embedder = get_embedder(None)
        self.vectors = self.embedder.encode([f"{p.title}\n{p.text}" for p in paragraphs])
        self.bm25 = bm25s.BM25()
        self.bm25.index(bm25s.tokenize([p.text for p in paragraphs], stopwords="en", show_progress=False), show_progress=False)

    def scores(self, queries: list[str]) -> np.ndarray:
        import bm25s

        dense = self.embedder.encode(queries) @ self.vectors.T
        tokens = bm25s.tokenize(queries, stopwords="en", show_progress=False)
        sparse = np.zeros_like(dense)
        inverse = {v: k for k, v in tokens.vocab.items()}
        for row in range(len(queries)):
            words = [inverse[i] for i in tokens.ids[row]]
            if words:
                sparse[row] = self.bm25.get_scores(words)
        return self.alpha * _minmax(dense) + (1 - self.alpha) * _minmax(sparse)


def _minmax(matrix: np.ndarray) -> np.ndarray:
    low = matrix.min(axis=1, keepdims=True)
    span = matrix.max(axis=1, keepdims=True) - low
    return (matrix - low) / np.where(span > 0, span, 1)


@dataclass
class BuildOptions:
    max_passages: int = 2
    min_passages: int = 1  # the bot shows the generator top_k (1 by default) passages
    no_gold_share: float = 0.25  # of answerable questions, also asked without their gold passage
    abstain_share: float = 0.3  # at most this share of examples target the abstain sentence
    validation_share: float = 0.1
    holdout_articles: tuple[str, ...] = ()
    passage_words: int | None = None  # trim passages to a window this long (cheaper CPU training)
    seed: int = 0


def build_examples(paragraphs: list[Paragraph], questions: list[Question], options: BuildOptions) -> list[Record]:
    rng = random.Random(options.seed)
    holdout = {a.replace("_", " ") for a in options.holdout_articles}
    kept_paragraphs = [p for p in paragraphs if p.title not in holdout]
    index = {p.doc_id: i for i, p in enumerate(kept_paragraphs)}
    side = {p.doc_id: document_side(p.doc_id, options.validation_share, options.seed) for p in kept_paragraphs}
    asked = [q for q in questions if q.doc_id in index]
    if not asked:
        raise DataError("no questions left to build examples from (all articles held out?)")
    search = HybridNeighbours(kept_paragraphs)
    ranked = np.argsort(-search.scores([q.text for q in asked]), axis=1)

    answer_like, abstain_like = [], []
    for row, question in enumerate(asked):
        same_side = [kept_paragraphs[i] for i in ranked[row][:40] if side[kept_paragraphs[i].doc_id] == side[question.doc_id]]
        gold = kept_paragraphs[index[question.doc_id]]
        distractors = [p for p in same_side if p.doc_id != gold.doc_id]
        count = rng.randint(options.min_passages, options.max_passages)
        if question.impossible:
            abstain_like.append(_record(question, [gold] + distractors[: count - 1], None, "unanswerable", rng, options.passage_words))
            continue
        answer_like.append(_record(question, [gold] + distractors[: count - 1], best_answer(question.answers), "answerable", rng, options.passage_words))
        if rng.random() < options.no_gold_share:
            abstain_like.append(_record(question, distractors[:count], None, "no_gold", rng, options.passage_words, gold_id=gold.doc_id))
    limit = int(len(answer_like) * options.abstain_share / max(1 - options.abstain_share, 1e-9))
    rng.shuffle(abstain_like)
    records = answer_like + abstain_like[:limit]
    rng.shuffle(records)
    return records


def window(text: str, words: int | None, around: str | None, rng: random.Random) -> str:
    """``words`` consecutive words of ``text``: around the answer when given, else anywhere."""
    tokens = text.split()
    if words is None or len(tokens) <= words:
        return text
    start = rng.randint(0, len(tokens) - words)
    if around:
        at = text.find(around)
        if at >= 0:
            centre = len(text[:at].split())
            span = len(around.split())
            start = max(0, min(centre - rng.randint(0, max(words - span, 0)), len(tokens) - words))
    return " ".join(tokens[start:start + words])


def _record(question: Question, passages: list[Paragraph], answer: str | None, kind: str, rng: random.Random,
            passage_words: int | None = None, gold_id: str | None = None) -> Record:
    order = list(passages)
    rng.shuffle(order)
    numbered = []
    for n, p in enumerate(order, start=1):
        around = answer if p.doc_id == question.doc_id else None
        numbered.append(Passage(n, p.title, window(p.text, passage_words, around, rng)))
    if answer is None:
        target = ABSTAIN_SENTENCE
    else:
        cite = next(n for n, p in enumerate(order, start=1) if p.doc_id == question.doc_id)
        target = f"{answer.rstrip('.')} [{cite}]."
    messages = build_messages(question.text, numbered) + [{"role": "assistant", "content": target}]
    meta = {"doc_ids": [question.doc_id] + [p.doc_id for p in order if p.doc_id != question.doc_id], "kind": kind,
            "source": "squad", "question_id": question.id}
    if gold_id:
        meta["held_back"] = gold_id
    return Record(messages, meta)

