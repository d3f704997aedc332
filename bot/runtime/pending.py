"""Questions kept across a restart: what a shutdown could not finish, retried at the next start.

Payloads are JSON (the caller decides what goes in: for Slack, the routing ids and the
question *redacted*). Rows exist only for instances that stopped, so whichever instance starts
next takes them all: a replacement container or pod has a new hostname (taking only rows with
one's own hostname left those questions unanswered forever). The hostname that kept a row is
recorded for the operator; two instances starting at once each get a row at most once.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, delete, select
from sqlalchemy.engine import Connection, Engine

from bot.state.db import as_engine, create_tables

_metadata = MetaData()
pending_table = Table(
    "pending_questions",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instance", String(200), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("reason", String(100), nullable=False),
    Column("payload", Text, nullable=False),
)


class PendingQuestions:
    def __init__(self, engine: Engine | str, instance: str | None = None) -> None:
        self.engine = as_engine(engine, sqlite_timeout_s=10)
        self.instance = instance or socket.gethostname()
        create_tables(self.engine, _metadata, [pending_table])

    def save(self, payloads: list[dict[str, Any]], reason: str = "shutdown", conn: Connection | None = None) -> int:
        """Keep ``payloads``; in ``conn``'s transaction when given (with the in-flight journal's release)."""
        if not payloads:
            return 0
        if conn is None:
            with self.engine.begin() as own:
                return self.save(payloads, reason, own)
        now = time.time()
        rows = [{"instance": self.instance, "created_at": now, "reason": reason[:100], "payload": json.dumps(p)} for p in payloads]
        conn.execute(pending_table.insert(), rows)
        return len(rows)

    def take_all(self) -> list[dict[str, Any]]:
        """Every kept question, oldest first; each is removed by the one taker whose delete hits it."""
        return self.take(None)

    def take(self, limit: int | None) -> list[dict[str, Any]]:
        """At most ``limit`` kept questions (all when None), oldest first, removed as they are taken."""
        query = select(pending_table.c.id, pending_table.c.payload).order_by(pending_table.c.id)
        with self.engine.begin() as conn:
            rows = conn.execute(query if limit is None else query.limit(limit)).all()
        taken = []
        for row in rows:
            with self.engine.begin() as conn:
                if conn.execute(delete(pending_table).where(pending_table.c.id == row.id)).rowcount == 1:
                    taken.append(json.loads(row.payload))
        return taken

    def forget(self, user_id: str) -> int:
        """Delete the kept questions ``user_id`` asked (a data-subject request); returns how many."""
        return forget_asker(self.engine, pending_table, user_id)

    def count(self) -> int:
        with self.engine.begin() as conn:
            return len(conn.execute(select(pending_table.c.id)).all())


def forget_asker(engine: Engine, table: Table, user_id: str) -> int:
    """Delete the rows of ``table`` (an ``id`` and a JSON ``payload``) whose question ``user_id``
    asked; returns how many. Both journals are small: their payloads are read, not indexed."""
    with engine.begin() as conn:
        rows = conn.execute(select(table.c.id, table.c.payload)).all()
        theirs = [row.id for row in rows if asker_of(row.payload) == user_id]
        if theirs:
            conn.execute(delete(table).where(table.c.id.in_(theirs)))
    return len(theirs)


def asker_of(payload: str) -> str | None:
    """Whose question a kept or journaled row holds: its writer's, when someone pointed ragbot at it."""
    try:
        fields = json.loads(payload)
        return fields.get("written_by") or fields.get("user_id")
    except (ValueError, AttributeError):
        return None
