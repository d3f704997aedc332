"""Prompt-injection detection: fast patterns, then a learned detector over sentence embeddings."""

from guardrails.injection.validators import InjectionValidator, PassageInjectionValidator, injection_scores

__all__ = ["InjectionValidator", "PassageInjectionValidator", "injection_scores"]
