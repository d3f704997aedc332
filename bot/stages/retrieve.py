"""Retrieval stage: hybrid search for the question, then the passages the generator will see."""

from __future__ import annotations

from typing import Protocol

from adapters.base import Passage
from bot.answer import Source
from bot.settings import Settings
from bot.turn import Turn
from retrieval.types import Hit


class Retriever(Protocol):
    def search(self, query: str, *, k: int, alpha: float) -> list[Hit]: ...


def searchable(query: str) -> str:
    """The question as searched and scored: redaction placeholders ("[CREDIT_CARD]") dropped.
    No document holds them, and their words only dilute the match (a question with a card
    number in it fell under the relevance gate)."""
    from guardrails.pii.engine import REDACTION_PLACEHOLDER

    return " ".join(REDACTION_PLACEHOLDER.sub(" ", query).split()) or query


def search_text(turn: Turn) -> str:
    """The question, preceded by the thread's last two questions (and a human's answer to the
    last), so that a follow-up of a follow-up ("and for contractors?", then "why?") keeps the
    thread's topic (stored redacted: their placeholders go too)."""
    last = turn.request.history[-2:]
    recent = [e.question for e in last] + ([last[-1].answer] if last else [])
    recent = [searchable(text) for text in recent if text.strip()]
    return "\n".join([*recent, searchable(turn.query)]) if recent else searchable(turn.query)


def history_lines(turn: Turn) -> list[str]:
    """The thread as the generator reads it: earlier questions and humans' answers, their
    redaction placeholders dropped (the model copied "What about [LOCATION]?" into its answer)."""
    lines = [text for e in turn.request.history for text in (e.question, e.answer) if text.strip()]
    return [searchable(line) for line in lines]


class RetrieveStage:
    name = "retrieve"

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever

    def run(self, turn: Turn) -> None:
        settings = turn.settings
        turn.hits = self.retriever.search(search_text(turn), k=settings.candidates, alpha=settings.alpha)
        turn.passages, turn.sources = select_passages(turn.hits, settings)
        top = turn.hits[0] if turn.hits else None
        turn.note(
            hits=len(turn.hits),
            top_score=top.score if top else None,
            top_cosine=top.cosine if top else None,
            top_bm25=top.bm25 if top else None,
            top_rerank=top.rerank if top else None,
        )


def select_passages(hits: list[Hit], settings: Settings) -> tuple[list[Passage], list[Source]]:
    """Number the best hits' parent sections (one passage per parent) as ``[1]..[top_k]``."""
    top_k, max_chars = settings.top_k, settings.parent_max_chars
    passages: list[Passage] = []
    sources: list[Source] = []
    seen: set[str] = set()
    for hit in hits:
        chunk = hit.chunk
        if chunk.parent_id in seen:
            continue
        seen.add(chunk.parent_id)
        n = len(passages) + 1
        passages.append(Passage(n=n, title=chunk.title, text=chunk.parent_text[:max_chars]))
        score = hit.rerank if hit.rerank is not None else (hit.cosine if hit.cosine is not None else hit.score)
        sources.append(
            Source(n=n, title=chunk.title, location=chunk.location, score=round(float(score), 4), doc_id=chunk.doc_id, section=chunk.section,
                   url=settings.source_link(chunk.location))
        )
        if len(passages) >= top_k:
            break
    return passages, sources
