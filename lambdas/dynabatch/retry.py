"""Retry policy: capped exponential backoff with full jitter, within a bounded budget."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from .constants import THROTTLING_ERROR_CODES
from .exceptions import ThrottledError

__all__ = ["RetryPolicy", "is_throttle", "error_code"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the layer tries before it hands an item back to the caller.

    Parameters
    ----------
    max_attempts:
        Sends per item (or per single request), the first included. Must be >= 1.
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


def error_code(error: ClientError) -> str:
    """The DynamoDB error code of a botocore ClientError."""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_throttle(error: BaseException) -> bool:
    """True when ``error`` is DynamoDB telling the caller to slow down."""
    return isinstance(error, ClientError) and error_code(error) in THROTTLING_ERROR_CODES


def call_with_retry(
    operation: str,
    send: Callable[[], T],
    policy: RetryPolicy,
    on_throttle: Callable[[], Any] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run one request, retrying throttling errors within ``policy``.

    Raises
    ------
    ThrottledError
        When every attempt was throttled.
    botocore.exceptions.ClientError
        Any other DynamoDB error, unchanged.
    """
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return send()
        except ClientError as error:
            if not is_throttle(error):
                raise
            if on_throttle is not None:
                on_throttle()
            out_of_time = (
                policy.deadline is not None and time.monotonic() - started >= policy.deadline
            )
            if attempt >= policy.max_attempts or out_of_time:
                raise ThrottledError(operation, error_code(error), attempt) from error
            sleep(policy.backoff(attempt))
