"""Questions being answered, from receipt to reply, so that a process killed without warning
(SIGKILL, the OOM killer, a lost node) does not leave its askers waiting forever.

A graceful stop keeps unfinished questions itself (``bot.runtime.pending``); this journal is
for the stop that runs no code. Each row holds routing ids only, never the question: the text
is read back from Slack when the row is adopted (``bot.runtime.lifecycle``). Rows carry a
lease that their live process renews; rows whose lease ran out belong to a process that is
gone, and any instance adopts them, each row once.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, delete, select, update
from sqlalchemy.engine import Engine

from bot.state.db import as_engine, create_tables

LEASE_S = 90.0  # a row nobody renewed for this long belongs to a process that is gone
RENEW_EVERY_S = 20.0
STUCK_S = 3600.0  # an own row this old was left by a failed delete: no question runs an hour

_metadata = MetaData()
in_flight_table = Table(
    "questions_in_flight",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False, index=True),
    Column("instance", String(200), nullable=False, index=True),
    Column("started_at", Float, nullable=False),
    Column("lease_until", Float, nullable=False, index=True),
    Column("payload", Text, nullable=False),
)


class InFlightQuestions:
    def __init__(self, engine: Engine | str, instance: str | None = None) -> None:
        self.engine = as_engine(engine, sqlite_timeout_s=10)
        # one per process: a restarted container keeps its hostname, and must not take its
        # predecessor's rows for its own live ones
        self.instance = instance or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        create_tables(self.engine, _metadata, [in_flight_table])

    def begin(self, request_id: str, payload: dict[str, Any]) -> None:
        now = time.time()
        row = {"request_id": request_id, "instance": self.instance, "started_at": now, "lease_until": now + LEASE_S, "payload": json.dumps(payload)}
        with self.engine.begin() as conn:
            conn.execute(in_flight_table.insert(), [row])

    def end(self, request_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(in_flight_table).where(in_flight_table.c.request_id == request_id, in_flight_table.c.instance == self.instance))

    def renew(self) -> int:
        """Extend this process's leases; drops its rows a failed ``end`` left behind."""
        now = time.time()
        mine = in_flight_table.c.instance == self.instance
        with self.engine.begin() as conn:
            conn.execute(delete(in_flight_table).where(mine, in_flight_table.c.started_at < now - STUCK_S))
            return conn.execute(update(in_flight_table).where(mine).values(lease_until=now + LEASE_S)).rowcount or 0

    def release_all(self) -> int:
        """Delete this process's rows: a graceful stop kept what it had to (``pending``)."""
        with self.engine.begin() as conn:
            return conn.execute(delete(in_flight_table).where(in_flight_table.c.instance == self.instance)).rowcount or 0

    def take_orphans(self) -> list[dict[str, Any]]:
        """The rows of processes that stopped renewing, oldest first, each removed by the one
        taker whose delete hits it (two instances adopting at once get each row once)."""
        query = (
            select(in_flight_table.c.id, in_flight_table.c.payload)
            .where(in_flight_table.c.lease_until < time.time(), in_flight_table.c.instance != self.instance)
            .order_by(in_flight_table.c.id)
        )
        with self.engine.begin() as conn:
            rows = conn.execute(query).all()
        taken = []
        for row in rows:
            with self.engine.begin() as conn:
                if conn.execute(delete(in_flight_table).where(in_flight_table.c.id == row.id)).rowcount == 1:
                    taken.append(json.loads(row.payload))
        return taken

    def count(self) -> int:
        with self.engine.begin() as conn:
            return len(conn.execute(select(in_flight_table.c.id)).all())
