"""The checks a drafted answer passes before it is sent (see :func:`output_validators`)."""

from __future__ import annotations

from bot.settings import Settings
from guardrails.base import Validator
from guardrails.pii.validators import AnswerPiiValidator


def output_validators(settings: Settings) -> list[Validator]:
    """PII first, so nothing later can copy personal data back into the reply."""
    return [AnswerPiiValidator()]
