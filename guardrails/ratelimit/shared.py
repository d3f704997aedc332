"""Token buckets in the bot's database, so several instances serving one workspace count one
person's questions together (per-process buckets let N instances allow N times the rate).

Each take is one short transaction: make sure the buckets exist, then take a token from each
with a conditional UPDATE that refills and checks in the same statement, so two instances
taking at once cannot both spend the last token (PostgreSQL re-checks the condition on the
locked row; SQLite runs one writer at a time). A refused take rolls back, so it costs
neither bucket. When the database cannot answer, the process's own buckets decide.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable

from sqlalchemy import Column, Engine, Float, MetaData, String, Table, case, delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.state.db import as_engine, conflict_insert, create_tables
from guardrails.ratelimit.buckets import RateLimiter

log = logging.getLogger(__name__)

_metadata = MetaData()
bucket_table = Table(
    "rate_buckets",
    _metadata,
    Column("key", String(64), primary_key=True),  # a hash of kind and Slack id: no raw ids stored
    Column("tokens", Float, nullable=False),
    Column("updated", Float, nullable=False, index=True),  # epoch seconds of the last take
)

PRUNE_EVERY = 500  # takes between removals of idle buckets
IDLE_S = 3600.0  # a bucket untouched this long is full again: its row can go


class _Refused(Exception):
    def __init__(self, kind: str, wait_s: float) -> None:
        super().__init__(kind)
        self.kind, self.wait_s = kind, wait_s


class SharedRateLimiter:
    """The :class:`RateLimiter` interface over the ``rate_buckets`` table."""

    def __init__(self, engine: Engine | str, *, clock: Callable[[], float] = time.time, fallback: RateLimiter | None = None,
                 hasher: Callable[[str], str] | None = None) -> None:
        self.engine = as_engine(engine, sqlite_timeout_s=5)
        # the bot's salted id hasher: an unsalted hash of a Slack id is undone by hashing the
        # workspace's member list
        self.hasher = hasher or _sha256
        self.clock = clock  # wall clock: instances on other machines must agree on it
        self.fallback = fallback or RateLimiter()
        self._takes = 0
        create_tables(self.engine, _metadata, [bucket_table])

    def take(self, limits: list[tuple[str, str, int]]) -> tuple[str, float] | None:
        """``limits``: (kind, id, per_minute). None when allowed, else (kind refused, seconds to wait)."""
        try:
            refused = self._take(limits)
        except SQLAlchemyError as error:
            log.warning("shared rate limit unavailable (%s); counting in this process", type(error).__name__)
            return self.fallback.take(limits)
        self._takes += 1
        if self._takes % PRUNE_EVERY == 0:
            self.prune()
        return refused

    def _take(self, limits: list[tuple[str, str, int]]) -> tuple[str, float] | None:
        now = self.clock()
        keys = [(kind, self.hasher(f"{kind}\x00{ident}")[:40], float(rate)) for kind, ident, rate in limits]
        try:
            with self.engine.begin() as conn:
                for _, key, capacity in keys:
                    self._ensure(conn, key, capacity, now)
                for kind, key, capacity in keys:
                    self._spend(conn, kind, key, capacity, now)
        except _Refused as refused:
            return refused.kind, refused.wait_s
        return None

    def _ensure(self, conn, key: str, capacity: float, now: float) -> None:
        """A full bucket for a first-time key; an existing one is left as it is."""
        values = {"key": key, "tokens": capacity, "updated": now}
        insert = conflict_insert(conn.dialect.name)
        if insert is not None:
            conn.execute(insert(bucket_table).values(**values).on_conflict_do_nothing(index_elements=["key"]))
            return
        if conn.execute(select(bucket_table.c.key).where(bucket_table.c.key == key)).first() is None:
            try:
                with conn.begin_nested():
                    conn.execute(bucket_table.insert().values(**values))
            except IntegrityError:  # another instance created it first
                pass

    def _spend(self, conn, kind: str, key: str, capacity: float, now: float) -> None:
        c = bucket_table.c
        elapsed = case((c.updated < now, now - c.updated), else_=0.0)  # a clock behind another instance's adds nothing
        refilled = c.tokens + elapsed * (capacity / 60.0)
        available = case((refilled > capacity, capacity), else_=refilled)
        spent = conn.execute(
            update(bucket_table).where(c.key == key, available >= 1.0).values(tokens=available - 1.0, updated=case((c.updated > now, c.updated), else_=now))
        )
        if spent.rowcount == 1:
            return
        tokens = conn.execute(select(available).where(c.key == key)).scalar_one_or_none() or 0.0
        raise _Refused(kind, max(0.0, (1.0 - tokens) * 60.0 / capacity))

    def prune(self) -> int:
        """Remove buckets idle long enough to be full (a new one starts full anyway)."""
        try:
            with self.engine.begin() as conn:
                return conn.execute(delete(bucket_table).where(bucket_table.c.updated < self.clock() - IDLE_S)).rowcount or 0
        except SQLAlchemyError as error:
            log.warning("could not prune rate-limit buckets (%s)", type(error).__name__)
            return 0


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
