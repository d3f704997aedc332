"""Groundedness: how well each sentence of the answer is supported by the passages it was given."""

from guardrails.grounding.support import GroundednessValidator, SentenceSupport, score_support

__all__ = ["GroundednessValidator", "SentenceSupport", "score_support"]
