"""Rate limits shared by instances on one database (SQLite and a real PostgreSQL)."""

from __future__ import annotations

import threading

from sqlalchemy import create_engine, text

from guardrails.base import CheckContext, run_validators
from guardrails.ratelimit import RateLimiter, RateLimitValidator
from guardrails.ratelimit.shared import IDLE_S, SharedRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _engine(url: str):
    return create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {}, hide_parameters=True)


def _ask(validator, settings, user="U1", channel="C1"):
    return run_validators("hi there", [validator], CheckContext(settings=settings, user_id=user, channel_id=channel))


def test_two_instances_count_one_users_questions_together(database_url, settings):
    clock = Clock()
    first = RateLimitValidator(SharedRateLimiter(_engine(database_url), clock=clock))
    second = RateLimitValidator(SharedRateLimiter(_engine(database_url), clock=clock))
    s = settings.with_overrides({"rate_user_per_minute": 3, "rate_channel_per_minute": 100})
    assert [_ask(v, s).stop for v in (first, second, first)] == [None, None, None]
    refused = _ask(second, s)
    assert refused.stop == "block" and "try again in 20 s" in refused.message
    clock.now += 20  # one token back, on either instance
    assert _ask(second, s).stop is None and _ask(first, s).stop == "block"


def test_a_channel_refusal_costs_the_user_nothing(database_url, settings):
    limiter = SharedRateLimiter(_engine(database_url), clock=Clock())
    assert limiter.take([("user", "U1", 5), ("channel", "C1", 1)]) is None
    kind, wait = limiter.take([("user", "U1", 5), ("channel", "C1", 1)])
    assert kind == "channel" and 59 <= wait <= 60
    assert [limiter.take([("user", "U1", 5)]) for _ in range(4)] == [None] * 4  # 5 - 1: the refused take was rolled back
    assert limiter.take([("user", "U1", 5)])[0] == "user"


def test_simultaneous_questions_on_two_instances_spend_each_token_once(database_url):
    clock = Clock()
    limiters = [SharedRateLimiter(_engine(database_url), clock=clock) for _ in range(2)]
    results: list = []
    start = threading.Barrier(12)

    def ask(limiter):
        start.wait()
        results.append(limiter.take([("user", "U1", 5)]))

    threads = [threading.Thread(target=ask, args=(limiters[i % 2],)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 12 and results.count(None) == 5


def test_ids_are_stored_hashed_and_idle_buckets_are_pruned(database_url):
    clock, engine = Clock(), _engine(database_url)
    limiter = SharedRateLimiter(engine, clock=clock)
    limiter.take([("user", "U0123SECRET", 5)])
    with engine.begin() as conn:
        keys = [row[0] for row in conn.execute(text("SELECT key FROM rate_buckets"))]
    assert len(keys) == 1 and "U0123SECRET" not in keys[0]
    clock.now += IDLE_S + 1
    limiter.take([("user", "U2", 5)])
    assert limiter.prune() == 1


def test_ids_are_hashed_with_the_bots_salt_so_a_member_list_cannot_undo_them(database_url):
    import hashlib

    from bot.observability.hashing import IdHasher

    engine = _engine(database_url)
    SharedRateLimiter(engine, clock=Clock(), hasher=IdHasher(b"salt")).take([("user", "U0123SECRET", 5)])
    with engine.begin() as conn:
        [key] = [row[0] for row in conn.execute(text("SELECT key FROM rate_buckets"))]
    assert key == IdHasher(b"salt")("user\x00U0123SECRET")
    assert key != hashlib.sha256(b"user\x00U0123SECRET").hexdigest()[:40]


def test_with_the_database_down_the_process_counts_alone(tmp_path, caplog):
    engine = _engine(f"sqlite:///{tmp_path / 'state.db'}")
    clock = Clock()
    limiter = SharedRateLimiter(engine, clock=clock, fallback=RateLimiter(clock))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE rate_buckets"))  # the database answers, but not with buckets
    assert limiter.take([("user", "U1", 1)]) is None
    assert limiter.take([("user", "U1", 1)])[0] == "user"  # still limited, by this process
    assert "shared rate limit unavailable" in caplog.text
