"""The bot's state database: one SQLAlchemy engine, its tables, and the repositories over them.

SQLite (the default, a file in ``data_dir``) and any other SQLAlchemy URL (PostgreSQL for
several bot instances) work the same way; uniqueness constraints, not process memory,
decide which instance takes an event or an outbox message.
"""

from __future__ import annotations

import logging
import random
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from sqlalchemy import MetaData, Table, create_engine, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from bot.state.models import Base, SharedValue

log = logging.getLogger(__name__)
T = TypeVar("T")


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: an error's text (logged) must not carry the stored question or draft
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # WAL lets readers run while a worker writes
            cursor = dbapi_connection.cursor()
            if path and path != ":memory:":
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def as_engine(engine: Engine | str, sqlite_timeout_s: float) -> Engine:
    """``engine`` itself, or a new one for a URL (a part used on its own: tests, benchmarks);
    ``serve`` hands every part the bot's engine."""
    if not isinstance(engine, str):
        return engine
    return create_engine(engine, connect_args={"timeout": sqlite_timeout_s} if engine.startswith("sqlite") else {}, hide_parameters=True)


def conflict_insert(dialect_name: str) -> Callable | None:
    """The dialect's ``insert`` that takes ON CONFLICT clauses (PostgreSQL, SQLite), or None."""
    module = {"postgresql": postgresql, "sqlite": sqlite}.get(dialect_name)
    return module.insert if module is not None else None


DDL_LOCK = 0x7261_6762  # "ragb": one PostgreSQL advisory lock for every ragbot schema change


def create_tables(engine: Engine, metadata: MetaData, tables: list[Table] | None = None, attempts: int = 5) -> None:
    """``create_all`` that holds when instances start together on an empty database: on
    PostgreSQL they take turns under an advisory lock (otherwise the loser fails on the
    catalog's unique index); elsewhere a lost race ("already exists") is simply tried again,
    and the second pass finds the tables."""
    for attempt in range(attempts):
        try:
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DDL_LOCK})
                metadata.create_all(conn, tables=tables)
                _add_missing_indexes(conn, tables if tables is not None else metadata.sorted_tables)
            return
        except (IntegrityError, OperationalError, ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * (attempt + 1) + random.uniform(0, 0.1))


def _add_missing_indexes(conn, tables: list[Table]) -> None:
    """Indexes added after a table was first created (create_all skips existing tables). One
    that the stored rows violate (duplicates from before it existed) is logged and left out:
    the code's own checks still hold on a single instance."""
    existing = inspect(conn)
    for table in tables:
        names = {index["name"] for index in existing.get_indexes(table.name)}
        for index in table.indexes:
            if index.name in names:
                continue
            try:
                with conn.begin_nested():
                    index.create(conn)
            except (IntegrityError, OperationalError, ProgrammingError) as error:
                log.warning("could not add index %s to %s: %s", index.name, table.name, type(error).__name__)


def once_more_on_conflict(call: Callable[[], T]) -> T:
    """``call()``, an insert-or-update; when another instance inserted the same row between our
    read and our insert, the second try finds that row and updates it."""
    try:
        return call()
    except IntegrityError:
        return call()


class Database:
    """Engine plus a session factory; ``transaction()`` is the unit of work every repository uses."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)
        create_tables(self.engine, Base.metadata)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def shared_value(self, name: str, proposed: str) -> str:
        """The value stored under ``name``, storing ``proposed`` first if there is none; when
        instances race, every one of them gets the value that was stored first."""
        try:
            with self.transaction() as session:
                if session.get(SharedValue, name) is None:
                    session.add(SharedValue(name=name, value=proposed))
        except IntegrityError:
            pass  # another instance stored it between our read and our insert
        with self.transaction() as session:
            return session.get(SharedValue, name).value

    def dispose(self) -> None:
        self.engine.dispose()
