"""Typed errors of the batch layer. Each one carries what failed, never only a message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BatchLayerError",
    "BatchAbortedError",
    "InvalidItemError",
    "ItemTooLargeError",
    "TransactionCancelledError",
    "CancellationReason",
    "UnprocessedItemsError",
    "UnprocessedKeysError",
    "ThrottledError",
]


class BatchLayerError(Exception):
    """Base class of every error the batch layer raises on its own."""


class InvalidItemError(BatchLayerError, ValueError):
    """An item or key DynamoDB would reject, found before sending.

    Attributes
    ----------
    table:
        The table it was meant for.
    key:
        Its key in plain Python when known, so the caller can find it.
    attribute:
        Dotted path of the offending attribute (``"specs.sizes[2]"``), ``None`` when the
        problem is the item as a whole.
    reason:
        Human text saying what is wrong.
    """

    code = "InvalidItem"

    def __init__(
        self,
        table: str,
        key: Mapping[str, Any] | None,
        attribute: str | None,
        reason: str,
    ) -> None:
        self.table = table
        self.key = dict(key) if key is not None else None
        self.attribute = attribute
        self.reason = reason
        where = f"item {self.key!r}" if self.key else "item"
        what = f" attribute {attribute!r}:" if attribute else ""
        super().__init__(f"{where} for table {table!r}:{what} {reason}")


class ItemTooLargeError(InvalidItemError):
    """An item is over DynamoDB's 400 KB limit; found before sending.

    Attributes (besides :class:`InvalidItemError`'s)
    ----------
    size: the item's size in bytes as DynamoDB counts it.
    limit: the limit it broke.
    """

    code = "ItemTooLarge"

    def __init__(self, table: str, key: Mapping[str, Any] | None, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(table, key, None, f"is {size} bytes, over the {limit}-byte limit")


def _failure_summary(result: Any) -> str:
    counts: dict[str, int] = {}
    for failure in result.failures:
        label = failure.code
        if failure.code in ("ResourceNotFoundException", "AccessDeniedException"):
            label = f"{failure.code} (table {failure.table!r})"
        counts[label] = counts.get(label, 0) + 1
    return ", ".join(f"{n} {label}" for label, n in counts.items())


class UnprocessedItemsError(BatchLayerError):
    """Writes not done: refused, failed or left after the retry budget or deadline.

    ``result`` is the full :class:`~dynabatch.types.WriteResult`; ``result.failures`` says
    per op what happened. ``unprocessed`` maps table name to the plain-Python write requests
    not written (``{"PutRequest": {"Item": {...}}}`` or ``{"DeleteRequest": {"Key": {...}}}``),
    so a caller can store them and try again later.
    """

    def __init__(self, result: Any) -> None:
        self.result = result
        self.unprocessed: dict[str, list[dict[str, Any]]] = result.unprocessed
        count = len(result.failures)
        super().__init__(f"{count} write request(s) not written: {_failure_summary(result)}")


class UnprocessedKeysError(BatchLayerError):
    """Keys not answered; ``result.failures`` says why per key, ``unprocessed`` maps table
    to keys."""

    def __init__(self, result: Any) -> None:
        self.result = result
        self.unprocessed: dict[str, list[dict[str, Any]]] = result.unprocessed
        count = len(result.failures)
        super().__init__(f"{count} key(s) not read: {_failure_summary(result)}")


class BatchAbortedError(BatchLayerError):
    """A call stopped on a failure on the caller's side (the source raised, a callback raised,
    an op was not a Put/Delete).

    Nothing is in flight when it is raised. ``result`` says what was done; every op pulled
    but not done is in ``result.failures`` (code ``Aborted``, ``attempts == 0`` when it was
    never sent). The original exception is ``__cause__``. ``KeyboardInterrupt`` and other
    ``BaseException`` propagate as themselves, with the same result on their ``result``
    attribute.
    """

    def __init__(self, result: Any, cause: BaseException) -> None:
        self.result = result
        super().__init__(
            f"stopped by {type(cause).__name__}: {cause}; {len(result.failures)} op(s) "
            "pulled but not done are in .result.failures"
        )


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
