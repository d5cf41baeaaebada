"""The per-connection frame rate limit."""

from notifications.realtime.ratelimit import FrameRateLimiter, Verdict


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_burst_then_refusals_then_close():
    """A burst passes, then frames are refused, then persistent flooding closes."""
    clock = FakeClock()
    limiter = FrameRateLimiter(per_second=1, burst=2, refusals_before_close=2, clock=clock)
    verdicts = [limiter.check() for _ in range(5)]
    assert verdicts == [Verdict.ALLOW, Verdict.ALLOW, Verdict.REFUSE, Verdict.REFUSE, Verdict.CLOSE]


def test_tokens_come_back_with_time():
    """A client that slows down is allowed again and its refusal count starts over."""
    clock = FakeClock()
    limiter = FrameRateLimiter(per_second=2, burst=1, refusals_before_close=1, clock=clock)
    assert limiter.check() is Verdict.ALLOW
    assert limiter.check() is Verdict.REFUSE
    clock.now += 0.5
    assert limiter.check() is Verdict.ALLOW
    assert limiter.check() is Verdict.REFUSE
