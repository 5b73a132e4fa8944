"""A clock a test sets, for checks against time steps (TOTP codes): no test waits for a step
boundary to pass, and none fails because one passed while it ran."""

from __future__ import annotations

import time

__all__ = ["SettableClock"]


class SettableClock:
    """Seconds since the epoch, as the app's ``clock`` reads them; only the test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    @classmethod
    def mid_step(cls, step: int = 30) -> SettableClock:
        """Now, moved to the middle of the current ``step``-second TOTP step."""
        return cls((int(time.time()) // step) * step + step / 2)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
