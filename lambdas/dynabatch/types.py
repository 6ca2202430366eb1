"""Plain-Python requests and results of the batch layer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.conditions import ConditionBase

__all__ = [
    "Item",
    "Key",
    "Put",
    "Delete",
    "Capacity",
    "ChunkError",
    "Failure",
    "RequestEvent",
    "GetPage",
    "GetResult",
    "WriteResult",
    "Update",
    "FailedUpdate",
    "UpdateResult",
]

#: A plain-Python item: attribute name to str, int, Decimal, bytes, set, list, dict, ...
Item = dict[str, Any]
#: A plain-Python primary key, e.g. ``{"deviceId": "d-1"}``.
Key = dict[str, Any]


@dataclass(frozen=True)
class Put:
    """Write ``item`` to ``table`` (replacing any item with the same key)."""

    table: str
    item: Mapping[str, Any]


@dataclass(frozen=True)
class Delete:
    """Delete the item with ``key`` from ``table`` (no error if it is not there)."""

    table: str
    key: Mapping[str, Any]


@dataclass
class Capacity:
    """Capacity consumed in one table, summed over every request of a call."""

    capacity_units: float = 0.0
    read_units: float = 0.0
    write_units: float = 0.0

    def add(self, entry: Mapping[str, Any]) -> None:
        """Add one ConsumedCapacity entry of a DynamoDB response."""
        self.capacity_units += float(entry.get("CapacityUnits", 0.0))
        self.read_units += float(entry.get("ReadCapacityUnits", 0.0) or 0.0)
        self.write_units += float(entry.get("WriteCapacityUnits", 0.0) or 0.0)

    def merge(self, other: Capacity) -> None:
        """Add another table total to this one."""
        self.capacity_units += other.capacity_units
        self.read_units += other.read_units
        self.write_units += other.write_units


@dataclass(frozen=True)
class ChunkError:
    """How many ops failed with one code and message (a summary of ``failures``)."""

    code: str
    message: str
    count: int


@dataclass(frozen=True)
class Failure:
    """One op the layer did not complete, and why.

    Attributes
    ----------
    table:
        The op's table.
    key:
        Its key in plain Python, when known (``None`` when the op has no usable key).
    code:
        What happened: ``InvalidItem``/``ItemTooLarge`` (refused before sending),
        ``ValidationException`` (DynamoDB refused this op), ``ResourceNotFoundException``,
        ``AccessDeniedException`` (the table), ``RetriesExhausted``, ``DeadlineExceeded``,
        ``Aborted`` (the call stopped on a caller-side failure), or another DynamoDB code.
    reason:
        Human text, with DynamoDB's own message where it gave one.
    request:
        The op in plain Python: ``{"PutRequest": {"Item": ...}}`` /
        ``{"DeleteRequest": {"Key": ...}}`` for writes, the key for reads.
    attempts:
        Times it was sent; ``0``: never sent.
    """

    table: str
    key: dict[str, Any] | None
    code: str
    reason: str
    request: dict[str, Any]
    attempts: int = 0

    @property
    def retryable(self) -> bool:
        """True when sending it again later may succeed (it was not refused for its content)."""
        return self.code not in ("InvalidItem", "ItemTooLarge", "ValidationException")


@dataclass(frozen=True)
class RequestEvent:
    """One finished request's share for one table, handed to an ``on_request`` callback.

    ``items`` counts the ops of this table in the request, ``retries`` those of them that
    were sent before, ``throttled`` whether DynamoDB left any of them unprocessed or
    throttled the request, ``duration`` the request's seconds on the wire.
    """

    operation: str
    table: str
    items: int
    duration: float
    retries: int
    throttled: bool


def _summary(failures: list[Failure]) -> list[ChunkError]:
    counts = Counter((f.code, f.reason) for f in failures)
    return [ChunkError(code, reason, n) for (code, reason), n in counts.items()]


@dataclass
class GetPage:
    """Items of one BatchGetItem response for one table, yielded as soon as it arrives."""

    table: str
    items: list[Item]


@dataclass
class GetResult:
    """What a batch read found.

    Attributes
    ----------
    items:
        Table to found items, in the order their keys were first requested.
    missing:
        Table to keys that DynamoDB answered for and does not hold.
    failures:
        One :class:`Failure` per key not answered, with its reason (empty when complete).
    consumed_capacity:
        Table to the capacity consumed, when it was asked for (or metrics/budget need it).
    requests:
        BatchGetItem requests sent, retries included.
    retries:
        Keys sent again after DynamoDB left them unprocessed or throttled their request.
    throttles:
        Requests DynamoDB throttled or answered only in part.
    """

    items: dict[str, list[Item]] = field(default_factory=dict)
    missing: dict[str, list[Key]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    consumed_capacity: dict[str, Capacity] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    throttles: int = 0

    @property
    def complete(self) -> bool:
        """True when every key was answered (found or missing)."""
        return not self.failures

    @property
    def unprocessed(self) -> dict[str, list[Key]]:
        """Table to keys not answered (the keys of ``failures``)."""
        out: dict[str, list[Key]] = {}
        for failure in self.failures:
            out.setdefault(failure.table, []).append(failure.request)
        return out

    @property
    def errors(self) -> list[ChunkError]:
        """``failures`` summarised: one entry per distinct code and reason."""
        return _summary(self.failures)


@dataclass
class WriteResult:
    """What a batch write did.

    Attributes
    ----------
    written:
        Put/delete requests DynamoDB confirmed.
    superseded:
        Requests dropped because a later request in the same call had the same key
        (last write wins).
    failures:
        One :class:`Failure` per op not written, with table, key, reason and the request.
    consumed_capacity, requests, retries, throttles:
        As in :class:`GetResult`.
    """

    written: int = 0
    superseded: int = 0
    failures: list[Failure] = field(default_factory=list)
    consumed_capacity: dict[str, Capacity] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    throttles: int = 0

    @property
    def complete(self) -> bool:
        """True when every request was written."""
        return not self.failures

    @property
    def unprocessed(self) -> dict[str, list[dict[str, Any]]]:
        """Table to the requests not written, as ``{"PutRequest": {"Item": ...}}`` /
        ``{"DeleteRequest": {"Key": ...}}`` in plain Python; feed them to
        :func:`dynabatch.ops_from_request_items` to try again."""
        out: dict[str, list[dict[str, Any]]] = {}
        for failure in self.failures:
            out.setdefault(failure.table, []).append(failure.request)
        return out

    @property
    def unprocessed_count(self) -> int:
        """How many requests were not written."""
        return len(self.failures)

    @property
    def errors(self) -> list[ChunkError]:
        """``failures`` summarised: one entry per distinct code and reason."""
        return _summary(self.failures)

    def merge(self, other: WriteResult) -> None:
        """Add another part of the same job to this result (e.g. a BatchWriter flush)."""
        self.written += other.written
        self.superseded += other.superseded
        self.failures.extend(other.failures)
        self.requests += other.requests
        self.retries += other.retries
        self.throttles += other.throttles
        for table, capacity in other.consumed_capacity.items():
            self.consumed_capacity.setdefault(table, Capacity()).merge(capacity)


@dataclass(frozen=True)
class Update:
    """Change some attributes of the item at ``key`` in ``table`` (one UpdateItem).

    Give either ``set`` / ``remove`` (names and values are built for you, reserved words
    are fine) or a raw ``update_expression`` with its ``names`` and plain-Python ``values``.

    Attributes
    ----------
    table, key:
        Where. ``key`` may carry other attributes; only the table's key attributes are sent.
    set:
        Top-level attribute name to new value, e.g. ``{"state": "maintenance"}``.
    remove:
        Top-level attribute names to delete.
    update_expression:
        A raw ``UpdateExpression`` (``"SET #n = #n + :one"``), instead of ``set``/``remove``.
    condition:
        A boto3 ``Attr`` condition or a string ``ConditionExpression``; when it is false
        the update is reported, not retried.
    names, values:
        Placeholders of the string expressions (values in plain Python).

    Example
    -------
    >>> Update("devices", {"deviceId": "d-1"}, set={"state": "maintenance"})
    ... # doctest: +ELLIPSIS
    Update(table='devices', key={'deviceId': 'd-1'}, set={'state': 'maintenance'}, ...)
    """

    table: str
    key: Mapping[str, Any]
    set: Mapping[str, Any] | None = None
    remove: Sequence[str] = ()
    update_expression: str | None = None
    condition: ConditionBase | str | None = None
    names: Mapping[str, str] | None = None
    values: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        simple = bool(self.set) or bool(self.remove)
        if simple == (self.update_expression is not None):
            raise ValueError("an Update takes set/remove or an update_expression (one of them)")
        if isinstance(self.remove, str):
            raise TypeError("remove takes a sequence of attribute names, not one string")


@dataclass(frozen=True)
class FailedUpdate:
    """One update that was not applied, and why.

    ``code`` is DynamoDB's (``ConditionalCheckFailedException``, ``ValidationException``,
    ``ResourceNotFoundException``, ...) or the layer's: ``InvalidUpdate`` (refused before
    sending), ``ItemNotFound`` (no item at the key and ``create_missing`` was off),
    ``RetriesExhausted`` (still throttled after the retry budget), ``DeadlineExceeded``
    (not sent before the deadline). ``old_item`` is the item as it stood when a condition
    failed, when it was asked for.
    """

    table: str
    key: dict[str, Any]
    code: str
    message: str
    old_item: dict[str, Any] | None = None


@dataclass
class UpdateResult:
    """What :meth:`BatchClient.update_items` did.

    Attributes
    ----------
    updated:
        Updates DynamoDB applied.
    failed:
        One :class:`FailedUpdate` per update not applied, with its table, key and reason.
    requests:
        UpdateItem requests sent, retries included.
    throttles:
        Requests DynamoDB throttled (each retried with backoff while the budget lasted).
    consumed_capacity:
        Table to capacity consumed, when it was asked for.
    """

    updated: int = 0
    failed: list[FailedUpdate] = field(default_factory=list)
    requests: int = 0
    throttles: int = 0
    consumed_capacity: dict[str, Capacity] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when every update was applied."""
        return not self.failed
