"""Minimum-relevance gate: when nothing relevant was found, say so instead of generating."""

from __future__ import annotations

import re
from typing import Protocol

from bot.answer import Outcome
from bot.settings import FALLBACK_TEXT
from bot.stages.retrieve import search_text, searchable
from bot.turn import Turn
from retrieval.relevance import content_words
from retrieval.types import Hit


# An email address or a phone number the asker signed with: words no document is expected to
# hold, which the gate's word coverage counted against the question ("I'm ..., jane@..., 212-555-0199:
# how many days of leave do I get?" fell back). Card numbers and the like are gone already.
# (Bounded pieces: a 2,000-character word of "@"s took seconds with open-ended ones.)
_CONTACT = re.compile(r"(?<!\S)[^\s@]{1,64}@[^\s@]{1,255}\.\w+|\+?\d[\d ().-]{6,20}\d")


class RelevanceScorer(Protocol):
    def relevance(self, query: str, hits: list[Hit]) -> float:
        """An absolute relevance in [0, 1] for the best hit (not the per-query fused score)."""
        ...


class RelevanceGateStage:
    name = "relevance_gate"

    def __init__(self, scorer: RelevanceScorer) -> None:
        self.scorer = scorer

    def run(self, turn: Turn) -> None:
        query = " ".join(_CONTACT.sub(" ", searchable(turn.query)).split())
        if turn.request.history and not content_words(query):  # "why?" brings no words of its own: the thread's must be found
            query = search_text(turn)
        relevance = self.scorer.relevance(query, turn.hits) if turn.hits else 0.0
        turn.relevance = relevance
        turn.confidence = relevance
        threshold = turn.settings.min_relevance
        turn.note(relevance=round(relevance, 4), min_relevance=threshold)
        if not turn.hits:  # nothing to answer from, whatever min_relevance says (0 lets everything else through)
            turn.stop(Outcome.FALLBACK, FALLBACK_TEXT, "no passage found", escalate=True)
        elif relevance < threshold:
            turn.stop(Outcome.FALLBACK, FALLBACK_TEXT, f"relevance {relevance:.2f} under min_relevance {threshold:.2f}", escalate=True)
