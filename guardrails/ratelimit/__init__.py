"""Per-user and per-channel token buckets, so one busy asker cannot starve everyone else."""

from guardrails.ratelimit.buckets import RateLimiter, RateLimitValidator, TokenBucket

__all__ = ["RateLimiter", "RateLimitValidator", "TokenBucket"]
