"""Per-connection frame rate limit: a token bucket, then a close for persistent flooding."""

import time
from enum import Enum


class Verdict(Enum):
    ALLOW = "allow"
    REFUSE = "refuse"  # answer with a `rate_limited` error frame
    CLOSE = "close"  # the client ignored the errors: close with 4429


class FrameRateLimiter:
    def __init__(self, per_second: float, burst: int, refusals_before_close: int, clock=time.monotonic):
        self.per_second = per_second
        self.burst = burst
        self.refusals_before_close = refusals_before_close
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()
        self._refusals_in_a_row = 0

    def check(self) -> Verdict:
        """Return what to do with the frame that just arrived."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.per_second)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            self._refusals_in_a_row = 0
            return Verdict.ALLOW
        self._refusals_in_a_row += 1
        if self._refusals_in_a_row > self.refusals_before_close:
            return Verdict.CLOSE
        return Verdict.REFUSE
