"""Token buckets keyed by user and by channel; rates are read from settings on every call,
so ``/ragbot set rate_user_per_minute 20`` takes effect at once."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from guardrails.base import CheckContext, Verdict

# The command line is the operator's own tool (batch `ragbot ask --file`, evaluations):
# it is not rate-limited.
UNLIMITED_IDS = frozenset({"cli"})


@dataclass
class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``capacity`` per minute."""

    capacity: float
    tokens: float
    updated: float

    def refill(self, now: float, capacity: float) -> None:
        self.capacity = capacity
        self.tokens = min(capacity, self.tokens + (now - self.updated) * capacity / 60.0)
        self.updated = now

    def wait_s(self) -> float:
        """Seconds until one token is available."""
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) * 60.0 / self.capacity


class RateLimiter:
    """Thread-safe buckets; a request takes a token from its user's and its channel's bucket,
    or from neither (a refused request does not cost the other bucket)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def _bucket(self, key: tuple[str, str], capacity: float, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._forget_full(now)
            bucket = self._buckets[key] = TokenBucket(capacity, capacity, now)
        bucket.refill(now, capacity)
        return bucket

    def _forget_full(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            bucket.refill(now, bucket.capacity)
            if bucket.tokens >= bucket.capacity:
                del self._buckets[key]

    def take(self, limits: list[tuple[str, str, int]]) -> tuple[str, float] | None:
        """``limits``: (kind, id, per_minute). None when allowed, else (kind refused, seconds to wait)."""
        with self._lock:
            now = self.clock()
            buckets = [(kind, self._bucket((kind, key), float(rate), now)) for kind, key, rate in limits]
            for kind, bucket in buckets:
                if bucket.tokens < 1.0:
                    return kind, bucket.wait_s()
            for _, bucket in buckets:
                bucket.tokens -= 1.0
            return None


class RateLimitValidator:
    name = "rate_limit"
    action_setting = "rate_limit_action"

    def __init__(self, limiter: RateLimiter | None = None) -> None:
        self.limiter = limiter or RateLimiter()

    def validate(self, text: str, context: CheckContext) -> Verdict:
        settings = context.settings
        limits = []
        if context.user_id and context.user_id not in UNLIMITED_IDS:
            limits.append(("user", context.user_id, settings.rate_user_per_minute))
        if context.channel_id and context.channel_id not in UNLIMITED_IDS:
            limits.append(("channel", context.channel_id, settings.rate_channel_per_minute))
        refused = self.limiter.take(limits) if limits else None
        if refused is None:
            return Verdict(self.name, True, 0.0)
        kind, wait = refused
        seconds = max(1, math.ceil(wait))
        if kind == "user":
            message = (
                f"You're asking faster than I can keep up with (limit: {settings.rate_user_per_minute} questions a minute). "
                f"Please try again in {seconds} s."
            )
        else:
            message = (
                f"This channel is asking faster than I can keep up with (limit: {settings.rate_channel_per_minute} "
                f"questions a minute). Please try again in {seconds} s."
            )
        return Verdict(self.name, False, round(wait, 2), message)
