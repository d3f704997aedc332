"""The Slack bot's state: settings overrides, audit log, questions, feedback, escalations,
processed events, the outbox and their retention, in one SQLAlchemy database (SQLite by default)."""

from __future__ import annotations

from bot.state.db import Database
from bot.state.escalations import EscalationError, EscalationRepository
from bot.state.events import EventRepository
from bot.state.models import Escalation, QuestionRecord
from bot.state.outbox import OutboxRepository
from bot.state.overrides import GLOBAL, OverrideRepository
from bot.state.questions import QuestionRepository, Summary
from bot.state.retention import RetentionRepository


class StateStore:
    """All repositories over one database; build it with :func:`open_state`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.events = EventRepository(db)
        self.overrides = OverrideRepository(db)
        self.questions = QuestionRepository(db)
        self.escalations = EscalationRepository(db)
        self.outbox = OutboxRepository(db)
        self.retention = RetentionRepository(db)

    def close(self) -> None:
        self.db.dispose()


def open_state(url: str) -> StateStore:
    """Open (and create the tables of) the state database at a SQLAlchemy ``url``."""
    return StateStore(Database(url))


__all__ = ["StateStore", "open_state", "Escalation", "EscalationError", "QuestionRecord", "Summary", "GLOBAL"]
