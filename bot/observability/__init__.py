"""Seeing what ragbot does: one JSON log line per question, Prometheus metrics, health and readiness."""

from bot.observability.hashing import IdHasher
from bot.observability.metrics import BotMetrics
from bot.observability.question_log import QuestionLogger, question_record

__all__ = ["IdHasher", "BotMetrics", "QuestionLogger", "question_record"]
