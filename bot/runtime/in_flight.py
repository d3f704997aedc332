"""Questions being answered, from receipt to reply, so that a process killed without warning
(SIGKILL, the OOM killer, a lost node) does not leave its askers waiting forever.

A graceful stop keeps unfinished questions itself (``bot.runtime.pending``); this journal is
for the stop that runs no code. Each row holds routing ids only, never the question: the text
is read back from Slack when the row is adopted (``bot.runtime.lifecycle``). Rows carry a
lease that their live process renews; a row whose lease ran out belongs to a process that is
gone (or cut off from the database), and any instance adopts it by taking it over, each row
once. A process that was only cut off from the database, not dead, may then finish the same
question: whichever stores its answer first replies, the other finds the request id taken and
stays quiet (``bot.slack.worker``).
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, delete, select, update
from sqlalchemy.engine import Connection, Engine

from bot.runtime.pending import forget_asker
from bot.state.db import as_engine, create_tables

LEASE_S = 90.0  # a row nobody renewed for this long belongs to a process that is gone
RENEW_EVERY_S = 20.0
STUCK_S = 3600.0  # an own row this old was left by a failed delete: no question runs an hour
GIVEN_BACK = "(given back)"  # the owner of a row no process holds now

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
            conn.execute(delete(in_flight_table).where(in_flight_table.c.request_id == request_id, self._mine))

    def renew(self) -> int:
        """Extend this process's leases; drops its rows a failed ``end`` left behind."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(delete(in_flight_table).where(self._mine, in_flight_table.c.started_at < now - STUCK_S))
            return conn.execute(update(in_flight_table).where(self._mine).values(lease_until=now + LEASE_S)).rowcount or 0

    def release_all(self, conn: Connection | None = None) -> int:
        """Delete this process's rows: a graceful stop kept what it had to (``pending``); pass
        the connection that kept them, so that both happen or neither."""
        if conn is None:
            with self.engine.begin() as own:
                return self.release_all(own)
        return conn.execute(delete(in_flight_table).where(self._mine)).rowcount or 0

    def adopt_one(self) -> dict[str, Any] | None:
        """Take over the oldest row whose lease ran out (its lease now renewed by this process)
        and return its payload; None when there is none. A row whose question another live row
        already carries (kept by a shutdown and re-queued, say) is dropped, not adopted."""
        while True:
            now = time.time()
            expired = (in_flight_table.c.lease_until < now) & (in_flight_table.c.instance != self.instance)
            with self.engine.begin() as conn:
                row = conn.execute(select(in_flight_table).where(expired).order_by(in_flight_table.c.id).limit(1)).first()
                if row is None:
                    return None
                taken = conn.execute(
                    update(in_flight_table).where(in_flight_table.c.id == row.id, expired).values(instance=self.instance, lease_until=now + LEASE_S)
                ).rowcount == 1
                if not taken:
                    continue  # another instance took it first
                live = select(in_flight_table.c.id).where(
                    in_flight_table.c.request_id == row.request_id, in_flight_table.c.id != row.id, in_flight_table.c.lease_until >= now
                )
                if conn.execute(live.limit(1)).first() is not None:
                    conn.execute(delete(in_flight_table).where(in_flight_table.c.id == row.id))
                    continue
                return json.loads(row.payload)

    def give_back(self, request_id: str, retry_in_s: float = RENEW_EVERY_S) -> None:
        """Let a later round (of any instance) adopt ``request_id`` again, ``retry_in_s`` from
        now: this process cannot take it at the moment (no room, Slack failing)."""
        with self.engine.begin() as conn:
            given = update(in_flight_table).where(in_flight_table.c.request_id == request_id, self._mine)
            conn.execute(given.values(instance=GIVEN_BACK, lease_until=time.time() + retry_in_s))  # nobody's: this process may take it too

    def forget(self, user_id: str) -> int:
        """Delete the rows of questions ``user_id`` asked (a data-subject request): an orphan of
        theirs is then never adopted and answered, which would store a record about them again.
        A question still being answered finishes; its row is simply gone. Returns how many."""
        return forget_asker(self.engine, in_flight_table, user_id)

    @property
    def _mine(self):
        return in_flight_table.c.instance == self.instance

    def count(self) -> int:
        with self.engine.begin() as conn:
            return len(conn.execute(select(in_flight_table.c.id)).all())
