"""PII detection and redaction (Presidio, offline). ``redact(text)`` is the one call for logs and storage."""

from guardrails.pii.engine import HIGH_RISK, LOW_RISK, REDACTED_ENTITIES, Finding, PiiEngine, get_engine, high_risk_types, redact

__all__ = ["HIGH_RISK", "LOW_RISK", "REDACTED_ENTITIES", "Finding", "PiiEngine", "get_engine", "high_risk_types", "redact"]
