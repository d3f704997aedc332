"""Groundedness: how well each sentence of the answer is supported by the passages it was given."""

from guardrails.grounding.support import CitationValidator, GroundednessValidator, SentenceSupport, score_support

__all__ = ["CitationValidator", "GroundednessValidator", "SentenceSupport", "score_support"]
