"""Typed errors of the batch layer. Each one carries what failed, never only a message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BatchLayerError",
    "ItemTooLargeError",
    "TransactionCancelledError",
    "CancellationReason",
    "UnprocessedItemsError",
    "UnprocessedKeysError",
    "ThrottledError",
]


class BatchLayerError(Exception):
    """Base class of every error the batch layer raises on its own."""


class ItemTooLargeError(BatchLayerError, ValueError):
    """An item is over DynamoDB's 400 KB limit; raised before anything is sent.

    Attributes
    ----------
    table: the table the item was meant for.
    key: the item's key (plain Python), so the caller can find it.
    size: the item's size in bytes as DynamoDB counts it.
    limit: the limit it broke.
    """

    def __init__(self, table: str, key: Mapping[str, Any], size: int, limit: int) -> None:
        self.table = table
        self.key = dict(key)
        self.size = size
        self.limit = limit
        super().__init__(
            f"item {self.key!r} for table {table!r} is {size} bytes, over the {limit}-byte limit"
        )


class UnprocessedItemsError(BatchLayerError):
    """Writes still unprocessed after the retry budget.

    ``unprocessed`` maps table name to the plain-Python write requests that were not
    written (``{"PutRequest": {"Item": {...}}}`` or ``{"DeleteRequest": {"Key": {...}}}``),
    so a caller can store them and try again later. ``result`` is the full
    :class:`~dynabatch.types.WriteResult` of the call.
    """

    def __init__(self, result: Any) -> None:
        self.result = result
        self.unprocessed: dict[str, list[dict[str, Any]]] = result.unprocessed
        count = sum(len(v) for v in self.unprocessed.values())
        super().__init__(f"{count} write request(s) still unprocessed after the retry budget")


class UnprocessedKeysError(BatchLayerError):
    """Keys still unread after the retry budget; ``unprocessed`` maps table to keys."""

    def __init__(self, result: Any) -> None:
        self.result = result
        self.unprocessed: dict[str, list[dict[str, Any]]] = result.unprocessed
        count = sum(len(v) for v in self.unprocessed.values())
        super().__init__(f"{count} key(s) still unread after the retry budget")


class ThrottledError(BatchLayerError):
    """A single-request call (query, scan page, transaction) kept being throttled.

    ``code`` is the last DynamoDB error code, ``attempts`` how many tries were made.
    """

    def __init__(self, operation: str, code: str, attempts: int) -> None:
        self.operation = operation
        self.code = code
        self.attempts = attempts
        super().__init__(f"{operation} throttled ({code}) after {attempts} attempt(s)")


@dataclass(frozen=True)
class CancellationReason:
    """Why one action of a cancelled transaction failed.

    ``index`` is the action's position in the request, ``table`` and ``key`` say what it
    touched, ``code`` is DynamoDB's reason (``ConditionalCheckFailed``,
    ``TransactionConflict``, ``ThrottlingError``, ...) and ``item`` the item as it stood
    when the condition failed, when ``ReturnValuesOnConditionCheckFailure`` asked for it.
    """

    index: int
    code: str
    message: str
    table: str | None = None
    key: dict[str, Any] | None = None
    item: dict[str, Any] | None = None

    def describe(self) -> str:
        """One readable line: which action, on what, and why."""
        where = f"{self.table} {self.key}" if self.table else "action"
        text = f"#{self.index} {where}: {self.code}"
        return f"{text} ({self.message})" if self.message else text


class TransactionCancelledError(BatchLayerError):
    """TransactWriteItems/TransactGetItems was cancelled; ``reasons`` lists the failing actions.

    Only actions that failed are listed (DynamoDB reports ``None`` for the others).
    Convenience flags tell the common cases apart without string matching.
    """

    def __init__(self, reasons: Sequence[CancellationReason], token: str | None = None) -> None:
        self.reasons = list(reasons)
        self.token = token
        lines = "; ".join(r.describe() for r in self.reasons) or "no reason given"
        super().__init__(f"transaction cancelled: {lines}")

    @property
    def codes(self) -> set[str]:
        """The distinct reason codes."""
        return {r.code for r in self.reasons}

    @property
    def condition_failed(self) -> bool:
        """True when at least one condition expression was false."""
        return "ConditionalCheckFailed" in self.codes

    @property
    def conflict(self) -> bool:
        """True when another transaction or write touched the same item at the same time."""
        return "TransactionConflict" in self.codes

    @property
    def throttled(self) -> bool:
        """True when DynamoDB throttled the transaction."""
        return bool(self.codes & {"ThrottlingError", "ProvisionedThroughputExceeded"})
