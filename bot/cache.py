"""Answer cache: a repeated question skips retrieval and generation, never the output checks.

What is cached is the generator's *draft* with the passages and sources it was given, so a
hit still runs the output guard (PII, format, groundedness) under the settings of the
moment. The key is a SHA-256 of the normalized question as searched (``turn.query``, as the
input checks left it: high-risk PII removed; only the hash is stored), the knowledge-base version and every setting that can change the
draft. Re-ingesting bumps the knowledge-base version and changing such a setting (globally
or per channel) changes the key, so stale entries are simply never read again; they expire
after ``cache_ttl_s`` and are purged.

Why SQL and not an in-process LRU: the cache lives in the bot's own database (SQLite file by
default, PostgreSQL when several instances run), so it survives restarts and deploys, and
every instance behind a load balancer shares its hits. A lookup is one primary-key read
(about a millisecond) against a generation of a second or more, and only a hash of the
question is stored, never its text. Any database error is logged and read as a miss: the
cache can slow nothing down but itself and can never fail a question.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, delete, func, select
from sqlalchemy.engine import Engine

from adapters.base import Passage
from bot.answer import Source
from bot.observability.log_format import first_line
from bot.settings import Settings
from bot.state.db import as_engine, conflict_insert, create_tables
from bot.turn import Turn

log = logging.getLogger(__name__)

# Settings that cannot change the draft: the checks that run on every hit anyway, Slack and
# running concerns. Anything else (including settings added later) is part of the key, so a
# new setting can cost hits but never serve a stale answer.
NOT_IN_KEY = frozenset(
    {
        "data_dir", "database_url", "weaviate_api_key", "openai_api_key",
        "max_question_chars", "min_question_chars", "injection_threshold", "injection_action",
        "indirect_injection_action", "input_pii_action", "output_pii_action", "pii_allow_from_sources",
        "format_action", "groundedness_threshold", "groundedness_action", "answer_type_action", "rate_user_per_minute",
        "rate_channel_per_minute", "max_answer_chars", "escalation_threshold", "escalation_channel",
        "admin_users", "workspace_admins_are_admins", "mention_only", "shared_channels", "member_teams", "slack_api_url", "cache_ttl_s",
        "max_concurrency", "queue_size", "log_level", "log_salt", "metrics_host", "metrics_port",
        "store_timeout_s", "store_retries", "store_cooldown_s", "shutdown_grace_s", "generation_timeout_s", "generator_process",
        "question_shape_action", "normalize_action", "hold_escalated_answers", "outbox_retry_interval_s",
        "generation_batch_wait_ms", "torch_threads", "retention_days",
    }
)

MAX_ENTRIES = 20_000
_metadata = MetaData()
cache_table = Table(
    "answer_cache",
    _metadata,
    Column("key", String(64), primary_key=True),
    Column("kb_version", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
    Column("hits", Integer, nullable=False, default=0),
    Column("payload", Text, nullable=False),
)


def normalize_question(text: str) -> str:
    """Case, width, spacing and trailing punctuation do not make a different question."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"\s+", " ", text).strip()
    return text.rstrip(" ?!.")


def answer_settings(settings: Settings) -> dict[str, Any]:
    return settings.model_dump(mode="json", exclude=set(NOT_IN_KEY))


def cache_key(question: str, settings: Settings, kb_version: str, adapter: str | None = None) -> str:
    """``adapter``: the one in force (the registry's pointer decides when the setting is unset,
    so ``ragbot adapters use`` changes answers without changing any setting)."""
    material = json.dumps(
        {"q": normalize_question(question), "kb": kb_version, "settings": answer_settings(settings), "adapter": adapter}, sort_keys=True
    )
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass
class CachedDraft:
    """What a hit restores on the turn: everything the output checks and the reply need."""

    draft: str
    passages: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    relevance: float
    adapter: str | None = None
    model: str | None = None
    tokens: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_turn(cls, turn: Turn, model: str | None) -> "CachedDraft":
        return cls(
            draft=_stored_draft(turn),
            passages=[asdict(p) for p in turn.passages],
            sources=[s.model_dump() for s in turn.sources],
            relevance=float(turn.relevance if turn.relevance is not None else turn.confidence),
            adapter=turn.adapter,
            model=model,
            tokens=dict(turn.tokens),
        )

    def restore(self, turn: Turn) -> None:
        turn.draft = self.draft
        turn.passages = [Passage(**p) for p in self.passages]
        turn.sources = [Source(**s) for s in self.sources]
        turn.relevance = turn.confidence = self.relevance
        turn.adapter = self.adapter
        turn.tokens = {}  # no tokens were spent on this answer


class AnswerCache:
    """Drafts by key in the bot's database, each valid for ``cache_ttl_s`` from when it was stored."""

    def __init__(self, engine: Engine | str, *, clock: Callable[[], float] = time.time, max_entries: int = MAX_ENTRIES) -> None:
        self.engine = as_engine(engine, sqlite_timeout_s=5)
        self.clock = clock
        self.max_entries = max_entries
        self._puts = 0
        create_tables(self.engine, _metadata, [cache_table])

    @classmethod
    def from_settings(cls, settings: Settings) -> "AnswerCache":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.effective_database_url)

    def get(self, key: str) -> CachedDraft | None:
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                row = conn.execute(select(cache_table.c.payload, cache_table.c.expires_at).where(cache_table.c.key == key)).first()
                if row is None or row.expires_at <= now:
                    return None
                conn.execute(cache_table.update().where(cache_table.c.key == key).values(hits=cache_table.c.hits + 1))
            return CachedDraft(**json.loads(row.payload))
        except Exception as error:  # noqa: BLE001 - a broken cache is a miss, never a failed question
            log.warning("answer cache read failed (%s: %s); treating as a miss", type(error).__name__, first_line(error))
            return None

    def put(self, key: str, draft: CachedDraft, kb_version: str, ttl_s: float) -> None:
        now = self.clock()
        values = {"kb_version": kb_version[:200], "created_at": now, "expires_at": now + ttl_s, "hits": 0, "payload": json.dumps(asdict(draft))}
        try:
            with self.engine.begin() as conn:
                for statement in self._replace(key, values):
                    conn.execute(statement)
            self._puts += 1
            if self._puts % 100 == 1:
                self.purge()
        except Exception as error:  # noqa: BLE001
            log.warning("answer cache write failed (%s: %s)", type(error).__name__, first_line(error))

    def _replace(self, key: str, values: dict[str, Any]) -> list:
        """An upsert where the database has one, so two instances storing the same question at
        once do not collide on the key; elsewhere delete + insert (the loser's write is logged)."""
        insert = conflict_insert(self.engine.dialect.name)
        if insert is None:
            return [delete(cache_table).where(cache_table.c.key == key), cache_table.insert().values(key=key, **values)]
        return [insert(cache_table).values(key=key, **values).on_conflict_do_update(index_elements=[cache_table.c.key], set_=values)]

    def purge(self) -> int:
        """Drop expired entries and, beyond ``max_entries``, the oldest; return how many went."""
        with self.engine.begin() as conn:
            removed = conn.execute(delete(cache_table).where(cache_table.c.expires_at <= self.clock())).rowcount or 0
            total = conn.execute(select(func.count()).select_from(cache_table)).scalar_one()
            if total > self.max_entries:
                oldest = select(cache_table.c.key).order_by(cache_table.c.created_at).limit(total - self.max_entries)
                removed += conn.execute(delete(cache_table).where(cache_table.c.key.in_(oldest))).rowcount or 0
        return removed

    def invalidate(self, kb_version: str | None = None) -> int:
        """Drop everything (or everything not built on ``kb_version``): e.g. after an ingest."""
        with self.engine.begin() as conn:
            query = delete(cache_table)
            if kb_version is not None:
                query = query.where(cache_table.c.kb_version != kb_version)
            return conn.execute(query).rowcount or 0

    def __len__(self) -> int:
        with self.engine.begin() as conn:
            return conn.execute(select(func.count()).select_from(cache_table)).scalar_one()


class KnowledgeBaseVersion:
    """A string that changes whenever the knowledge base changes (re-read at most every ``ttl_s``).

    The store's own ``kb_version()`` wins when it has one; for the embedded LanceDB store it is
    the newest table manifest (every write, delete or index build adds one). For a store with
    neither (e.g. a remote Weaviate), it is None and the cache stays off: without a version
    a re-ingest could not invalidate it.
    """

    def __init__(self, retriever: Any, ttl_s: float = 1.0) -> None:
        self.retriever = retriever
        self.ttl_s = ttl_s
        self._value: str | None = None
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def __call__(self) -> str | None:
        with self._lock:
            now = time.monotonic()
            if now - self._read_at >= self.ttl_s:
                self._value = self._read()
                self._read_at = now
            return self._value

    def _read(self) -> str | None:
        store = getattr(self.retriever, "store", None)
        for owner in (self.retriever, store):
            explicit = getattr(owner, "kb_version", None)
            if callable(explicit):
                try:
                    return str(explicit())
                except Exception as error:  # noqa: BLE001 - a store that is down or gone: no cache for
                    # this question, and the retrieve stage meets the failure on its own path (retries,
                    # the store-down message and metric) instead of a generic "cache failed"
                    log.warning("cannot read the knowledge base version (%s); answer cache skipped", type(error).__name__)
                    return None
        directory, name = getattr(store, "directory", None), getattr(store, "name", None)
        if directory is None or name is None:
            return None
        versions = Path(directory) / f"{name}.lance" / "_versions"
        try:
            manifests = [e.name for e in os.scandir(versions) if e.name.endswith(".manifest")]
            changed = versions.stat().st_mtime_ns
        except FileNotFoundError:
            return "empty"
        # one manifest per table version (a write, delete or index build adds one)
        return f"lance:{min(manifests, default='none')}:{len(manifests)}:{changed}"


class InFlight:
    """Single flight: when the same key is asked while its first asker is still answering, the
    others wait for that draft instead of generating it again (a burst of one question costs
    one generation). A leader that ends without a draft (fallback, error) just wakes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}

    def claim(self, key: str) -> threading.Event | None:
        """None: the caller leads (and must :meth:`release`); else the leader's event to wait on."""
        with self._lock:
            event = self._events.get(key)
            if event is None:
                self._events[key] = threading.Event()
            return event

    def release(self, key: str) -> None:
        with self._lock:
            event = self._events.pop(key, None)
        if event is not None:
            event.set()


class CacheLookupStage:
    """After the input checks: on a hit, restore the draft and resume at the output checks.

    Also a pipeline observer: when a question ends, whatever way, its single-flight claim is released."""

    name = "cache"
    resume_at = "output_guard"

    def __init__(self, cache: AnswerCache, kb_version: Callable[[], str | None], metrics: Any = None, inflight: InFlight | None = None,
                 adapter_in_force: Callable[[Settings], str | None] = lambda settings: settings.adapter) -> None:
        self.cache = cache
        self.kb_version = kb_version
        self.adapter_in_force = adapter_in_force
        self.metrics = metrics
        self.inflight = inflight or InFlight()

    def run(self, turn: Turn) -> None:
        settings = turn.settings
        if settings.cache_ttl_s == 0:
            turn.note(decision="off")
            return
        if turn.request.history:  # a follow-up's answer depends on the thread, not just the words
            turn.note(decision="skip")
            return
        version = self.kb_version()
        if version is None:
            turn.note(decision="off")
            return
        key = cache_key(turn.query, settings, version, self.adapter_in_force(settings))
        cached = self.cache.get(key)
        leader = None
        if cached is None:
            leader = self.inflight.claim(key)
            if leader is not None:  # the same question is being answered right now: wait for its draft
                started = time.perf_counter()
                leader.wait(settings.generation_timeout_s + settings.store_timeout_s)
                turn.note(waited_ms=round((time.perf_counter() - started) * 1000, 1))
                cached = self.cache.get(key)
        if self.metrics is not None:
            self.metrics.observe_cache(cached is not None)
        if cached is None:
            turn.note(decision="miss", key=key, kb_version=version, leader=leader is None)
            return
        cached.restore(turn)
        turn.resume_at = self.resume_at
        turn.note(decision="hit", key=key, kb_version=version, model=cached.model)

    def on_answer(self, answer: Any, turn: Turn, total_ms: float) -> None:
        lookup = next((t for t in turn.trace if t.stage == self.name), None)
        if lookup is not None and lookup.details.get("leader"):
            self.inflight.release(lookup.details["key"])


class NotCacheable(Exception):
    """A draft that is not kept (the reason is the message)."""


def _stored_draft(turn: Turn) -> str:
    """The draft as it may sit in the database: personal data the sources do not show is
    redacted, as the output check would (the model may echo the asker's name or email; what
    the team's own documents say is kept, so a hit answers as well as a miss)."""
    from guardrails.base import CheckContext
    from guardrails.pii.validators import AnswerPiiValidator

    draft = turn.draft or ""
    context = CheckContext(settings=turn.settings, question=turn.query, source_texts=[p.text for p in turn.passages])
    verdict = AnswerPiiValidator().validate(draft, context)
    if verdict.kept:  # it repeats what the asker typed: not kept, and not worth keeping redacted
        raise NotCacheable("the draft repeats personal data from the question")
    return verdict.fixed or draft


class CacheStoreStage:
    """After generation (only reached with a real draft, not an abstention): remember it."""

    name = "cache_store"

    def __init__(self, cache: AnswerCache, inflight: InFlight | None = None) -> None:
        self.cache = cache
        self.inflight = inflight

    def run(self, turn: Turn) -> None:
        lookup = next((t for t in turn.trace if t.stage == CacheLookupStage.name), None)
        if lookup is None or lookup.decision != "miss" or not turn.draft:
            turn.note(decision="skip")
            return
        generate = next((t for t in turn.trace if t.stage == "generate"), None)
        model = generate.details.get("model") if generate is not None else None
        try:
            entry = CachedDraft.from_turn(turn, model)
        except NotCacheable as reason:
            log.debug("not caching request %s: %s", turn.request.request_id, reason)
            entry = None
        except Exception as error:  # noqa: BLE001 - a draft that cannot be made safe to keep is not kept
            log.warning("not caching request %s: %s", turn.request.request_id, type(error).__name__)
            entry = None
        if entry is not None:
            self.cache.put(lookup.details["key"], entry, lookup.details["kb_version"], turn.settings.cache_ttl_s)
        if self.inflight is not None and lookup.details.get("leader"):
            self.inflight.release(lookup.details["key"])  # waiters need not wait for our output checks
        turn.note(decision="stored" if entry is not None else "skip")
