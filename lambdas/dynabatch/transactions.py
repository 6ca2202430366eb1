"""TransactWriteItems / TransactGetItems with typed, readable cancellation errors."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import ConditionBase, ConditionExpressionBuilder
from botocore.exceptions import ClientError

from .constants import (
    MAX_ITEM_BYTES,
    MAX_TRANSACT_BYTES,
    MAX_TRANSACT_ITEMS,
    TRANSACTION_THROTTLE_CODES,
)
from .context import TableUnavailable
from .exceptions import (
    BatchLayerError,
    CancellationReason,
    ItemTooLargeError,
    ThrottledError,
    TransactionCancelledError,
)
from .expressions import Projection, build_condition, build_projection, merge_expression_parts
from .metrics import CallStats
from .query import DeadlineExceededError
from .retry import Deadline, error_code, is_transient
from .serde import deserialize_item, item_size, serialize_item
from .types import Item

if TYPE_CHECKING:
    from .context import BatchContext

__all__ = [
    "TransactPut",
    "TransactUpdate",
    "TransactDelete",
    "TransactCheck",
    "TransactGet",
    "TransactionTooLargeError",
    "transact_write",
    "transact_get",
]


class TransactionTooLargeError(BatchLayerError, ValueError):
    """A transaction over DynamoDB's 4 MB aggregate limit; raised before anything is sent.

    ``size`` is what the layer counted (items of puts, keys and expression values of the
    other actions), ``limit`` the limit it broke.
    """

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"the transaction is {size} bytes, over the {limit}-byte limit: split it")


@dataclass(frozen=True)
class _Action:
    table: str
    condition: ConditionBase | str | None = field(default=None, kw_only=True)
    names: Mapping[str, str] | None = field(default=None, kw_only=True)
    values: Mapping[str, Any] | None = field(default=None, kw_only=True)

    def wire(self, builder: ConditionExpressionBuilder) -> dict[str, Any]:
        raise NotImplementedError

    def _with_condition(
        self, body: dict[str, Any], builder: ConditionExpressionBuilder
    ) -> dict[str, Any]:
        body["TableName"] = self.table
        if self.condition is not None:
            merge_expression_parts(
                body,
                build_condition(
                    self.condition,
                    parameter="ConditionExpression",
                    names=self.names,
                    values=self.values,
                    builder=builder,
                ),
            )
        elif self.names or self.values:
            merge_expression_parts(body, _names_values(self.names, self.values))
        return body


def _names_values(
    names: Mapping[str, str] | None, values: Mapping[str, Any] | None
) -> dict[str, Any]:
    parts: dict[str, Any] = {}
    if names:
        parts["ExpressionAttributeNames"] = dict(names)
    if values:
        parts["ExpressionAttributeValues"] = serialize_item(values)
    return parts


@dataclass(frozen=True)
class TransactPut(_Action):
    """Put ``item`` into ``table``, optionally on ``condition``."""

    item: Mapping[str, Any]

    def wire(self, builder: ConditionExpressionBuilder) -> dict[str, Any]:
        return {"Put": self._with_condition({"Item": serialize_item(self.item)}, builder)}


@dataclass(frozen=True)
class TransactUpdate(_Action):
    """Apply ``update`` (an UpdateExpression) to the item at ``key``.

    The expression's ``#names`` and ``:values`` go in ``names`` / ``values`` (plain Python).
    """

    key: Mapping[str, Any]
    update: str

    def wire(self, builder: ConditionExpressionBuilder) -> dict[str, Any]:
        body = {"Key": serialize_item(self.key), "UpdateExpression": self.update}
        merge_expression_parts(body, _names_values(self.names, self.values))
        return {"Update": self._with_condition(body, builder)}


@dataclass(frozen=True)
class TransactDelete(_Action):
    """Delete the item at ``key``, optionally on ``condition``."""

    key: Mapping[str, Any]

    def wire(self, builder: ConditionExpressionBuilder) -> dict[str, Any]:
        return {"Delete": self._with_condition({"Key": serialize_item(self.key)}, builder)}


@dataclass(frozen=True)
class TransactCheck(_Action):
    """Require ``condition`` to hold on the item at ``key`` without changing it."""

    key: Mapping[str, Any]

    def wire(self, builder: ConditionExpressionBuilder) -> dict[str, Any]:
        if self.condition is None:
            raise ValueError("a TransactCheck needs a condition")
        return {"ConditionCheck": self._with_condition({"Key": serialize_item(self.key)}, builder)}


TransactWriteAction = TransactPut | TransactUpdate | TransactDelete | TransactCheck


@dataclass(frozen=True)
class TransactGet:
    """Read the item at ``key`` from ``table`` inside a TransactGetItems."""

    table: str
    key: Mapping[str, Any]
    projection: Projection | None = None


def _reasons(
    batch: BatchContext, error: ClientError, actions: Sequence[Any]
) -> list[CancellationReason]:
    reasons = []
    for index, reason in enumerate(error.response.get("CancellationReasons") or ()):
        code = reason.get("Code") or "None"
        if code == "None":
            continue
        action = actions[index] if index < len(actions) else None
        item = reason.get("Item")
        reasons.append(
            CancellationReason(
                index=index,
                code=code,
                message=reason.get("Message") or "",
                table=getattr(action, "table", None),
                key=_key_only(batch, action),
                item=deserialize_item(item) if item else None,
            )
        )
    return reasons


def _key_names(batch: BatchContext, table: str) -> tuple[str, ...] | None:
    """The table's key attribute names (one DescribeTable when not yet known), or ``None``."""
    names = batch.known_key_names(table)
    if names is not None:
        return names
    try:
        return batch.key_names(table)
    except (ClientError, TableUnavailable):
        return None


def _key_only(batch: BatchContext, action: Any) -> dict[str, Any] | None:
    # Only the key: a reason (and the error text built from it) must never carry a whole
    # item, whose other attributes may be large or private.
    if action is None:
        return None
    if isinstance(action, TransactPut):
        names = _key_names(batch, action.table)
        if not names:
            return None
        return {n: action.item[n] for n in names if n in action.item}
    return dict(action.key)


def _action_size(wired: Mapping[str, Any]) -> int:
    """Bytes an action adds to a transaction: the item of a put, else the key, plus any
    expression values (what DynamoDB counts against the 4 MB, as far as it is known here)."""
    ((_, body),) = wired.items()
    size = item_size(body["Item"]) if "Item" in body else item_size(body["Key"])
    return size + item_size(body.get("ExpressionAttributeValues") or {})


def _check_sizes(batch: BatchContext, actions: Sequence[Any], wired: Sequence[Any]) -> None:
    total = 0
    for action, body in zip(actions, wired, strict=True):
        size = _action_size(body)
        if isinstance(action, TransactPut) and size > MAX_ITEM_BYTES:
            raise ItemTooLargeError(
                action.table, _key_only(batch, action) or {}, size, MAX_ITEM_BYTES
            )
        total += size
    if total > MAX_TRANSACT_BYTES:
        raise TransactionTooLargeError(total, MAX_TRANSACT_BYTES)


def _run(
    batch: BatchContext,
    operation: str,
    send: Any,
    actions: Sequence[Any],
    token: str | None,
    deadline: Deadline,
    sleep: Callable[[float], None],
) -> Any:
    """Send a transaction, retrying only throttling (with the same token, so at most once).

    No attempt starts after ``deadline`` and no backoff runs past it.
    """
    stats = CallStats(operation)
    policy = batch.retry
    try:
        for attempt in range(1, policy.max_attempts + 1):
            if deadline.expired():
                raise DeadlineExceededError(operation, attempt - 1)
            stats.requests += 1
            try:
                response = send()
                stats.items += len(actions)
                stats.add_capacity(response.get("ConsumedCapacity"))
                return response
            except ClientError as error:
                code = error_code(error)
                if code in ("TransactionCanceledException", "TransactionCancelledException"):
                    reasons = _reasons(batch, error, actions)
                    codes = {r.code for r in reasons}
                    if not codes or not codes <= TRANSACTION_THROTTLE_CODES:
                        raise TransactionCancelledError(reasons, token) from error
                    last: Exception = TransactionCancelledError(reasons, token)
                elif is_transient(error) or code == "TransactionInProgressException":
                    last = ThrottledError(operation, code, attempt)
                else:
                    raise
            stats.throttles += 1
            if attempt == policy.max_attempts:
                break
            pause = policy.backoff(attempt)
            left = deadline.remaining()
            if left is not None and pause >= left:
                stats.given_up += len(actions)
                raise DeadlineExceededError(operation, attempt) from last
            sleep(pause)
        stats.given_up += len(actions)
        raise last
    finally:
        stats.emit(batch.metrics)


def transact_write(
    batch: BatchContext,
    actions: Sequence[TransactWriteAction],
    client_request_token: str | None,
    return_old_on_condition_failure: bool,
    *,
    deadline_at: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """See :meth:`BatchClient.transact_write`."""
    deadline = Deadline(batch.retry, deadline_at)
    if not actions:
        raise ValueError("a transaction needs at least one action")
    if len(actions) > MAX_TRANSACT_ITEMS:
        raise ValueError(f"a transaction takes at most {MAX_TRANSACT_ITEMS} actions")
    builder = ConditionExpressionBuilder()
    items = []
    for action in actions:
        wired = action.wire(builder)
        if return_old_on_condition_failure:
            for body in wired.values():
                body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        items.append(wired)
    _check_sizes(batch, actions, items)
    # A token makes DynamoDB's own retries and ours idempotent for 10 minutes.
    token = client_request_token or str(uuid.uuid4())
    kwargs: dict[str, Any] = {"TransactItems": items, "ClientRequestToken": token}
    if batch.metrics is not None:
        kwargs["ReturnConsumedCapacity"] = "TOTAL"
    response: dict[str, Any] = _run(
        batch,
        "TransactWriteItems",
        lambda: batch.call("TransactWriteItems", kwargs),
        actions,
        token,
        deadline,
        sleep,
    )
    return response


def transact_get(
    batch: BatchContext,
    gets: Sequence[TransactGet],
    *,
    deadline_at: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Item | None]:
    """See :meth:`BatchClient.transact_get`."""
    deadline = Deadline(batch.retry, deadline_at)
    if not gets:
        return []
    if len(gets) > MAX_TRANSACT_ITEMS:
        raise ValueError(f"a transaction takes at most {MAX_TRANSACT_ITEMS} actions")
    items = []
    for get in gets:
        body: dict[str, Any] = {"TableName": get.table, "Key": serialize_item(get.key)}
        if get.projection:
            expression, names = build_projection(get.projection)
            body["ProjectionExpression"] = expression
            body["ExpressionAttributeNames"] = names
        items.append({"Get": body})
    kwargs: dict[str, Any] = {"TransactItems": items}
    if batch.metrics is not None:
        kwargs["ReturnConsumedCapacity"] = "TOTAL"
    response = _run(
        batch,
        "TransactGetItems",
        lambda: batch.call("TransactGetItems", kwargs),
        gets,
        None,
        deadline,
        sleep,
    )
    return [
        deserialize_item(r["Item"]) if r.get("Item") else None
        for r in response.get("Responses", ())
    ]
