"""The question as it may be kept in logs and the database when a turn ends early."""

from __future__ import annotations

from guardrails.normalize import normalize_text
from guardrails.pii.engine import redact


def question_for_records(text: str, max_chars: int) -> str:
    """Normalized, cut to ``max_chars`` and PII-redacted: the input guard stores this as the
    turn's query when a check stops the turn before the question's PII check ran."""
    if not isinstance(text, str):
        return ""
    return redact(normalize_text(text)[:max_chars])
