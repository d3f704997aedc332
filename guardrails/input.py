"""The checks a question passes before retrieval, in order (see :func:`input_validators`)."""

from __future__ import annotations

from bot.settings import Settings
from guardrails.base import Validator
from guardrails.normalize import NormalizeValidator, QuestionShapeValidator


def input_validators(settings: Settings) -> list[Validator]:
    """Shape first (on the raw text, so binary input is seen before it is cleaned), then
    normalization, so every later check reads one canonical form."""
    return [QuestionShapeValidator(), NormalizeValidator()]
