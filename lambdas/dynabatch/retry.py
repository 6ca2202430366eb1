"""Retry policy: capped exponential backoff with full jitter, within a bounded budget."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .constants import THROTTLING_ERROR_CODES, TRANSIENT_ERROR_CODES

__all__ = [
    "RetryPolicy",
    "Deadline",
    "deadline_from_context",
    "is_throttle",
    "is_transient",
    "error_code",
]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the layer tries before it hands an item back to the caller.

    Parameters
    ----------
    max_attempts:
        Sends per item (or per single request), the first included. Must be >= 1. With a
        client from :func:`dynabatch.make_client` this is the real count on the wire
        (botocore's own retries are off there); a client with botocore retries on
        multiplies it by botocore's ``total_max_attempts``. Batch calls may add up to
        ``ceil(log2(ops per request)) + 1`` sends per op to isolate an op DynamoDB refuses
        (see :func:`dynabatch.engine.max_sends_per_op`).
    base_delay:
        Seconds; the backoff cap before attempt ``n`` is ``base_delay * 2**n``.
    max_delay:
        Seconds; no single wait is longer than this.
    deadline:
        Seconds from the start of a call after which no retry is started; whatever is
        still pending is returned as unprocessed. ``None``: only ``max_attempts`` bounds it.

    The wait before a retry is drawn uniformly from ``[0, min(max_delay, base*2**n)]``
    ("full jitter"), which spreads competing clients apart best.
    """

    max_attempts: int = 8
    base_delay: float = 0.05
    max_delay: float = 5.0
    deadline: float | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
        cap = min(self.max_delay, self.base_delay * (2 ** min(attempt, 32)))
        return random.uniform(0.0, cap)  # noqa: S311 - jitter, not cryptography


class Deadline:
    """One call's absolute time limit on the monotonic clock.

    Made once at the start of a call from ``RetryPolicy.deadline`` (seconds from now) and
    the caller's ``deadline_at`` (a ``time.monotonic()`` instant, e.g. from
    :func:`deadline_from_context`); the earlier one holds. No request starts after it and
    no backoff sleep runs past it.
    """

    __slots__ = ("at", "clock")

    def __init__(
        self,
        policy: RetryPolicy,
        deadline_at: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        limits = [deadline_at] if deadline_at is not None else []
        if policy.deadline is not None:
            limits.append(clock() + policy.deadline)
        #: The monotonic instant after which nothing is sent; ``None``: no limit.
        self.at: float | None = min(limits) if limits else None

    def remaining(self) -> float | None:
        """Seconds left (never negative), or ``None`` when there is no limit."""
        return None if self.at is None else max(0.0, self.at - self.clock())

    def expired(self) -> bool:
        """True once no new request may start."""
        return self.at is not None and self.clock() >= self.at

    def clip(self, seconds: float) -> float:
        """``seconds`` shortened so that a sleep of it ends by the deadline."""
        left = self.remaining()
        return seconds if left is None else min(seconds, left)


def deadline_from_context(context: Any, margin: float = 1.0) -> float:
    """A ``deadline_at`` for a Lambda invocation: its remaining time less ``margin`` seconds.

    ``context`` is the handler's ``LambdaContext`` (anything with
    ``get_remaining_time_in_millis``). The margin leaves time to shape a response.
    """
    remaining = float(context.get_remaining_time_in_millis()) / 1000.0
    return time.monotonic() + max(0.0, remaining - margin)


def error_code(error: ClientError) -> str:
    """The DynamoDB error code of a botocore ClientError."""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_throttle(error: BaseException) -> bool:
    """True when ``error`` is DynamoDB telling the caller to slow down."""
    return isinstance(error, ClientError) and error_code(error) in THROTTLING_ERROR_CODES


def is_transient(error: BaseException) -> bool:
    """True when ``error`` is a throttle or a server-side failure worth retrying."""
    return isinstance(error, ClientError) and (
        error_code(error) in THROTTLING_ERROR_CODES or error_code(error) in TRANSIENT_ERROR_CODES
    )
