"""The checks a drafted answer passes before it is sent (see :func:`output_validators`)."""

from __future__ import annotations

from bot.settings import Settings
from guardrails.base import Validator
from guardrails.format import FormatValidator
from guardrails.grounding import CitationValidator, GroundednessValidator
from guardrails.grounding.answer_type import AnswerTypeValidator
from guardrails.pii.validators import AnswerPiiValidator


def output_validators(settings: Settings) -> list[Validator]:
    """Groundedness first, on the draft as written: a placeholder would hide what it replaced
    (an invented "password 1234567890" became "[PHONE_NUMBER]", which no source contradicts);
    its fix only drops sentences. Then whether what is left states the amount or time the
    question asks for; then PII, so nothing later can copy personal data back into the reply;
    then missing citations added to supported sentences; format last, so the reply that leaves
    is valid mrkdwn citing only given sources."""
    return [GroundednessValidator(), AnswerTypeValidator(), AnswerPiiValidator(), CitationValidator(), FormatValidator()]
