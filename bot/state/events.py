"""Processed Events API ids: the first instance to insert an id owns the event."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from bot.state.db import Database
from bot.state.models import ProcessedEvent, utcnow


class EventRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, event_id: str) -> bool:
        """True the first time ``event_id`` is seen (by any instance), False for a retry."""
        try:
            with self.db.transaction() as session:
                session.add(ProcessedEvent(event_id=event_id))
        except IntegrityError:
            return False
        return True

    def prune(self, older_than: timedelta = timedelta(days=7)) -> int:
        """Slack retries within minutes; ids older than a week only take space."""
        with self.db.transaction() as session:
            result = session.execute(delete(ProcessedEvent).where(ProcessedEvent.received_at < utcnow() - older_than))
            return result.rowcount or 0
