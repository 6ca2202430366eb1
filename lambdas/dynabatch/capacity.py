"""An optional read/write capacity budget, so a bulk job paces itself below throttling."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["CapacityBudget", "TokenBucket"]


class TokenBucket:
    """Units per second with a one-second burst; spending may go into debt.

    The batch layer spends an estimate before each request and corrects it with the
    capacity DynamoDB reports as consumed, so the long-run rate follows real usage.
    """

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("a capacity budget must be positive")
        self.rate = float(rate)
        self._tokens = float(rate)
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def acquire(self, units: float, max_wait: float | None = None) -> float | None:
        """Wait until the bucket is not in debt, then spend ``units``; returns seconds waited.

        With ``max_wait``, returns ``None`` (nothing spent) instead of waiting longer, so
        a call's deadline bounds the pacing too.
        """
        waited = 0.0
        while True:
            with self._lock:
                self._refill()
                if self._tokens >= 0:
                    self._tokens -= units
                    return waited
                pause = -self._tokens / self.rate
            if max_wait is not None and waited + pause > max_wait:
                return None
            self._sleep(pause)
            waited += pause

    def adjust(self, units: float) -> None:
        """Correct an earlier estimate: positive spends more, negative gives back."""
        with self._lock:
            self._tokens -= units


class CapacityBudget:
    """Read and write units per second that a BatchClient keeps to.

    Parameters
    ----------
    read_units_per_second, write_units_per_second:
        ``None`` leaves that side unpaced. Size them a little under the table's
        provisioned capacity, leaving room for the application's own traffic.

    Example
    -------
    >>> budget = CapacityBudget(write_units_per_second=500)
    >>> batch = BatchClient(capacity=budget)  # doctest: +SKIP
    """

    def __init__(
        self,
        read_units_per_second: float | None = None,
        write_units_per_second: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.read = (
            TokenBucket(read_units_per_second, clock, sleep) if read_units_per_second else None
        )
        self.write = (
            TokenBucket(write_units_per_second, clock, sleep) if write_units_per_second else None
        )
