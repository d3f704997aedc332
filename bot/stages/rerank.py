"""Optional reranking of the retrieved hits by question likelihood (retrieval/likelihood.py).

A stage of its own, not part of the search: the store's deadline and retries cover the
store only, the model's time shows in the trace under its own name, and a failure here
costs the re-ordering, never the answer (the hybrid order stands and the error is noted).
The stage never stops a turn, so its decision stays ``continue``; what it did is in
``details["rerank"]``.
Depth and weight are read per question, so an admin can switch it on for one channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from bot.stages.retrieve import searchable, select_passages
from bot.turn import Turn
from retrieval.types import Hit

log = logging.getLogger(__name__)


class HitReranker(Protocol):
    def rerank(self, query: str, hits: list[Hit], depth: int, weight: float) -> list[Hit]: ...


class LikelihoodRerankStage:
    name = "rerank"

    def __init__(self, reranker: Callable[[], HitReranker]) -> None:
        self._reranker = reranker  # loads the model on first use

    def warm_up(self, settings) -> None:
        """Load the scorer before the first question when reranking is on at start-up (/ready waits for it)."""
        if settings.likelihood_rerank_depth:
            self._reranker()

    def run(self, turn: Turn) -> None:
        settings = turn.settings
        depth = settings.likelihood_rerank_depth
        if depth == 0 or not turn.hits:
            turn.note(rerank="off" if depth == 0 else "no hits")
            return
        before = turn.hits[0].chunk.parent_id
        try:
            turn.hits = self._reranker().rerank(searchable(turn.query), turn.hits, depth, settings.likelihood_rerank_weight)
        except Exception as error:  # noqa: BLE001 - an optional re-ordering must not cost the user the answer
            # the type only at ERROR: the message may quote the question (the traceback at DEBUG)
            log.error("likelihood reranking failed (request %s): %s; keeping the hybrid order", turn.request.request_id, type(error).__name__)
            log.debug("likelihood reranking failure in request %s", turn.request.request_id, exc_info=True)
            turn.note(rerank="failed", error=f"{type(error).__name__}: {error}"[:300])
            return
        turn.passages, turn.sources = select_passages(turn.hits, settings)
        top = turn.hits[0]
        turn.note(rerank="reordered" if top.chunk.parent_id != before else "kept", depth=depth, top_likelihood=top.likelihood)
