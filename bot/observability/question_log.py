"""One structured JSON log line per question, with no raw personal data in it.

User and channel ids are salted hashes, the question is redacted (Presidio, through
``guardrails.pii.redact``) and cut short, and free-text fields that could echo the
question (check messages, error messages) are left out: only their kind is kept.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from bot.answer import Answer
from bot.observability.hashing import IdHasher
from bot.turn import Turn

QUESTION_LOGGER = "ragbot.questions"
MAX_LOGGED_QUESTION_CHARS = 500
WITHHELD = "<withheld: no redactor available>"

Redactor = Callable[[str], str]

_RETRIEVAL_KEYS = ("hits", "top_score", "top_cosine", "top_bm25", "top_rerank")
_GUARD_STAGES = {"input_guard": "input", "passage_guard": "passages", "output_guard": "output"}


def default_redactor() -> Redactor | None:
    """The guardrails' Presidio redactor, or None when it is not installed (then the question is withheld)."""
    try:
        from guardrails.pii import redact
    except ImportError:
        return None
    return redact


def _verdicts(details: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, verdict in (details.get("verdicts") or {}).items():
        if isinstance(verdict, dict):  # messages are left out: they may quote the question
            out[name] = {k: verdict.get(k) for k in ("passed", "score", "action")}
    return out


def _error_kind(error: Any) -> str:
    """The kind an error message starts with ("generator server answered HTTP 503"), before
    its details or where (messages put a URL in brackets; a URL has a colon of its own)."""
    return re.split(r":| \(", str(error), maxsplit=1)[0][:80]


def question_record(
    answer: Answer,
    turn: Turn | None,
    *,
    hasher: IdHasher,
    redacted_question: str | None,
    escalation_reason: str | None = None,
    total_ms: float | None = None,
) -> dict[str, Any]:
    """The log record for one finished question (a plain JSON-serializable dict)."""
    request = turn.request if turn is not None else None
    stages: dict[str, float] = {}
    retrieval: dict[str, Any] = {}
    gate: dict[str, Any] = {}
    guardrails: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    cache: str | None = None
    model: str | None = None
    for trace in answer.trace:
        stages[trace.stage] = round(trace.duration_ms, 3)
        details = trace.details
        if "error" in details:
            errors[trace.stage] = _error_kind(details["error"])
        if trace.stage == "retrieve":
            retrieval = {k: details.get(k) for k in _RETRIEVAL_KEYS}
        elif trace.stage == "relevance_gate":
            gate = {"relevance": details.get("relevance"), "min_relevance": details.get("min_relevance"), "decision": trace.decision}
        elif trace.stage in _GUARD_STAGES:
            guardrails[_GUARD_STAGES[trace.stage]] = _verdicts(details)
        elif trace.stage == "cache":
            cache = trace.decision
        elif trace.stage == "generate":
            model = details.get("model")
    question = turn.question if turn is not None else ""
    return {
        "event": "question",
        "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "request_id": answer.request_id,
        "user": hasher(request.user_id) if request else None,
        "channel": hasher(request.channel_id) if request else None,
        "team": hasher(request.team_id) if request else None,
        "question": redacted_question,
        "question_chars": len(question),
        "thread_turns": len(request.history) if request else 0,
        "outcome": answer.outcome.value,
        "confidence": round(answer.confidence, 4),
        "escalate": answer.escalate,
        "escalation_reason": escalation_reason,
        "cache": cache,
        "stages_ms": stages,
        "total_ms": round(total_ms if total_ms is not None else sum(stages.values()), 3),
        "retrieval": retrieval,
        "gate": gate,
        "source_scores": [s.score for s in answer.sources],
        "guardrails": guardrails,
        "errors": errors,
        "adapter": turn.adapter if turn is not None else None,
        "model": model,
        "tokens": dict(turn.tokens) if turn is not None else {},
    }


class QuestionLogger:
    """Writes :func:`question_record` as one JSON line on the ``ragbot.questions`` logger."""

    def __init__(self, hasher: IdHasher, redactor: Redactor | None = None, logger: logging.Logger | None = None) -> None:
        self.hasher = hasher
        self.redactor = redactor
        self.logger = logger or logging.getLogger(QUESTION_LOGGER)

    def redact(self, text: str) -> str:
        """Redacted ``text``; withheld entirely when no redactor is available or it fails."""
        if self.redactor is None:
            return WITHHELD
        try:  # redact, then cut: cutting first can split an email or IBAN so that it is no longer found
            from guardrails.pii.records import cut_redacted

            return cut_redacted(self.redactor(text[: 4 * MAX_LOGGED_QUESTION_CHARS]), MAX_LOGGED_QUESTION_CHARS)
        except Exception:  # noqa: BLE001 - a redaction failure must never leak the raw text
            return "<withheld: redaction failed>"

    def on_answer(self, answer: Answer, turn: Turn | None, total_ms: float | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        redacted = self.redact(turn.question) if turn is not None else None
        # reasons can quote a check's message, which may quote the question: redact them too
        reason = self.redact(answer.escalation_reason) if answer.escalation_reason else None
        record = question_record(
            answer, turn, hasher=self.hasher, redacted_question=redacted, escalation_reason=reason, total_ms=total_ms
        )
        record["log_ms"] = round((time.perf_counter() - started) * 1000, 3)
        self.logger.info(json.dumps(record, ensure_ascii=False, default=str))
        return record


def install_json_handler(stream: Any = None) -> logging.Handler:
    """Send question lines, bare (no prefix), to ``stream`` (stderr by default), once."""
    logger = logging.getLogger(QUESTION_LOGGER)
    for handler in logger.handlers:
        if getattr(handler, "_ragbot_json", False):
            return handler
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler._ragbot_json = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler
