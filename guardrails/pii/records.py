"""The question as it may be kept in logs and the database when a turn ends early."""

from __future__ import annotations

import re

from guardrails.normalize import normalize_text
from guardrails.pii.engine import redact

_HALF_PLACEHOLDER = re.compile(r"\[[A-Z_]*$")


def cut_redacted(text: str, max_chars: int) -> str:
    """Redacted text cut to ``max_chars`` without leaving half a ``[TYPE]`` placeholder."""
    if len(text) <= max_chars:
        return text
    return _HALF_PLACEHOLDER.sub("", text[:max_chars])


def question_for_records(text: str, max_chars: int) -> str:
    """Normalized, PII-redacted and cut to ``max_chars`` (redacted first: a cut can split an
    email so that it is no longer found): the input guard stores this as the turn's query when
    a check stops the turn before the question's PII check ran."""
    if not isinstance(text, str):
        return ""
    return cut_redacted(redact(normalize_text(text)[: 2 * max_chars]), max_chars)
