"""Plain-Python requests and results of the batch layer."""

from __future__ import annotations

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
    """A non-retryable error DynamoDB returned for one request; its items are in ``unprocessed``."""

    code: str
    message: str
    count: int


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
    unprocessed:
        Table to keys still unread after the retry budget (empty when complete).
    consumed_capacity:
        Table to the capacity consumed, when it was asked for (or metrics/budget need it).
    requests:
        BatchGetItem requests sent, retries included.
    errors:
        Non-retryable errors, whose keys are in ``unprocessed``.
    """

    items: dict[str, list[Item]] = field(default_factory=dict)
    missing: dict[str, list[Key]] = field(default_factory=dict)
    unprocessed: dict[str, list[Key]] = field(default_factory=dict)
    consumed_capacity: dict[str, Capacity] = field(default_factory=dict)
    requests: int = 0
    errors: list[ChunkError] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every key was answered (found or missing)."""
        return not any(self.unprocessed.values())


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
    unprocessed:
        Table to requests still unwritten after the retry budget, as
        ``{"PutRequest": {"Item": ...}}`` / ``{"DeleteRequest": {"Key": ...}}`` in plain
        Python; feed them to :func:`dynabatch.ops_from_request_items` to try again.
    consumed_capacity, requests, errors:
        As in :class:`GetResult`.
    """

    written: int = 0
    superseded: int = 0
    unprocessed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    consumed_capacity: dict[str, Capacity] = field(default_factory=dict)
    requests: int = 0
    errors: list[ChunkError] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every request was written."""
        return not any(self.unprocessed.values())

    @property
    def unprocessed_count(self) -> int:
        """How many requests are in ``unprocessed``."""
        return sum(len(v) for v in self.unprocessed.values())


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
