"""The checks a question passes before retrieval, in order (see :func:`input_validators`),
and the checks retrieved passages pass before generation (:func:`passage_validators`)."""

from __future__ import annotations

from bot.settings import Settings
from guardrails.base import Validator
from guardrails.injection import InjectionValidator, PassageInjectionValidator
from guardrails.normalize import NormalizeValidator, QuestionShapeValidator
from guardrails.pii.validators import QuestionPiiValidator
from guardrails.ratelimit import RateLimitValidator


def input_validators(settings: Settings) -> list[Validator]:
    """Rate limit first (a refused request costs nothing more), then shape (on the raw text, so
    binary input is seen before it is cleaned), normalization (every later check reads one
    canonical form), injection, and PII last, so what is logged or stored is redacted."""
    return [RateLimitValidator(), QuestionShapeValidator(), NormalizeValidator(), InjectionValidator(), QuestionPiiValidator()]


def passage_validators(settings: Settings) -> list[Validator]:
    return [PassageInjectionValidator()]
