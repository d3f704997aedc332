"""The checks a drafted answer passes before it is sent (see :func:`output_validators`)."""

from __future__ import annotations

from bot.settings import Settings
from guardrails.base import Validator
from guardrails.format import FormatValidator
from guardrails.grounding import GroundednessValidator
from guardrails.pii.validators import AnswerPiiValidator


def output_validators(settings: Settings) -> list[Validator]:
    """PII first, so nothing later can copy personal data back into the reply; groundedness
    next (its fix may drop sentences); format last, so the reply that leaves is valid mrkdwn
    with citations that point at given sources."""
    return [AnswerPiiValidator(), GroundednessValidator(), FormatValidator()]
