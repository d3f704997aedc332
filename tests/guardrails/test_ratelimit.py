from guardrails.base import CheckContext, run_validators
from guardrails.ratelimit import RateLimiter, RateLimitValidator


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _ask(validator, settings, user="U1", channel="C1"):
    return run_validators("hi there", [validator], CheckContext(settings=settings, user_id=user, channel_id=channel))


def test_user_bucket_refuses_the_extra_request_then_refills(settings):
    clock = Clock()
    validator = RateLimitValidator(RateLimiter(clock))
    s = settings.with_overrides({"rate_user_per_minute": 3, "rate_channel_per_minute": 100})
    assert [(_ask(validator, s).stop) for _ in range(3)] == [None, None, None]
    refused = _ask(validator, s)
    assert refused.stop == "block"
    assert "3 questions a minute" in refused.message and "try again in 20 s" in refused.message
    clock.now += 20  # one token back (3 per minute)
    assert _ask(validator, s).stop is None
    assert _ask(validator, s).stop == "block"


def test_users_are_independent_but_share_the_channel_bucket(settings):
    validator = RateLimitValidator(RateLimiter(Clock()))
    s = settings.with_overrides({"rate_user_per_minute": 2, "rate_channel_per_minute": 3})
    assert _ask(validator, s, user="U1").stop is None
    assert _ask(validator, s, user="U1").stop is None
    assert _ask(validator, s, user="U2").stop is None
    refused = _ask(validator, s, user="U3")
    assert refused.stop == "block" and "This channel" in refused.message
    assert _ask(validator, s, user="U3", channel="C2").stop is None  # a channel refusal did not cost U3 a token
    assert _ask(validator, s, user="U3", channel="C2").stop is None


def test_the_cli_user_is_exempt(settings):
    validator = RateLimitValidator(RateLimiter(Clock()))
    s = settings.with_overrides({"rate_user_per_minute": 1})
    assert _ask(validator, s).stop is None and _ask(validator, s).stop == "block"
    assert all(_ask(validator, s, user="cli", channel="cli").verdicts[0].passed for _ in range(5))


def test_limiter_forgets_full_buckets_when_it_holds_too_many(settings):
    clock = Clock()
    limiter = RateLimiter(clock, max_keys=10)
    for i in range(10):
        limiter.take([("user", f"U{i}", 5)])
    clock.now += 120
    limiter.take([("user", "new", 5)])
    assert len(limiter._buckets) == 1
