"""Processed Events API ids: the first instance to insert an id owns the event.

When the database cannot be written, claims fall back to memory: Slack's retries reach the
same instance within minutes, and a question answered (or told of the failure) beats silence.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.state.db import Database
from bot.state.models import ProcessedEvent, utcnow


log = logging.getLogger(__name__)
LOCAL_CLAIMS = 10_000  # ids remembered in memory while the database is down


class EventRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._local: OrderedDict[str, None] = OrderedDict()
        self._local_lock = threading.Lock()

    def claim(self, event_id: str) -> bool:
        """True the first time ``event_id`` is seen (by any instance), False for a retry."""
        try:
            with self.db.transaction() as session:
                session.add(ProcessedEvent(event_id=event_id))
        except IntegrityError:
            return False
        except SQLAlchemyError as error:
            log.warning("cannot record event %s (%s); deduplicating in this process only", event_id, type(error).__name__)
            return self._claim_locally(event_id)
        return True

    def seen(self, event_id: str) -> bool:
        """Whether ``event_id`` was claimed (here or, with the database up, by any instance)."""
        with self._local_lock:
            if event_id in self._local:
                return True
        try:
            with self.db.transaction() as session:
                return session.get(ProcessedEvent, event_id) is not None
        except SQLAlchemyError as error:
            log.warning("cannot look up event %s (%s)", event_id, type(error).__name__)
            return False

    def release(self, event_id: str) -> None:
        """Give a claim back, so the next event with this id is taken (an edit of a message
        whose first version was refused as empty or a bare greeting)."""
        try:
            with self.db.transaction() as session:
                session.execute(delete(ProcessedEvent).where(ProcessedEvent.event_id == event_id))
        except SQLAlchemyError as error:
            log.warning("cannot release event %s (%s)", event_id, type(error).__name__)
        with self._local_lock:
            self._local.pop(event_id, None)

    def _claim_locally(self, event_id: str) -> bool:
        with self._local_lock:
            if event_id in self._local:
                return False
            self._local[event_id] = None
            if len(self._local) > LOCAL_CLAIMS:
                self._local.popitem(last=False)
            return True

    def prune(self, older_than: timedelta = timedelta(days=7)) -> int:
        """Slack retries within minutes; ids older than a week only take space."""
        with self.db.transaction() as session:
            result = session.execute(delete(ProcessedEvent).where(ProcessedEvent.received_at < utcnow() - older_than))
            return result.rowcount or 0
