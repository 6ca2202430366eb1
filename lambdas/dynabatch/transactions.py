"""TransactWriteItems / TransactGetItems with typed, readable cancellation errors."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import ConditionBase, ConditionExpressionBuilder
from botocore.exceptions import ClientError

from .constants import MAX_TRANSACT_ITEMS, TRANSACTION_THROTTLE_CODES
from .exceptions import CancellationReason, ThrottledError, TransactionCancelledError
from .expressions import Projection, build_condition, build_projection, merge_expression_parts
from .metrics import CallStats
from .retry import error_code, is_throttle
from .serde import deserialize_item, serialize_item
from .types import Item

if TYPE_CHECKING:
    from .client import BatchClient

__all__ = [
    "TransactPut",
    "TransactUpdate",
    "TransactDelete",
    "TransactCheck",
    "TransactGet",
    "transact_write",
    "transact_get",
]


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
    batch: BatchClient, error: ClientError, actions: Sequence[Any]
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


def _key_only(batch: BatchClient, action: Any) -> dict[str, Any] | None:
    if action is None:
        return None
    if isinstance(action, TransactPut):
        names = batch.known_key_names(action.table)
        item = action.item
        return {n: item[n] for n in names if n in item} if names else dict(item)
    return dict(action.key)


def _run(
    batch: BatchClient,
    operation: str,
    send: Any,
    actions: Sequence[Any],
    token: str | None,
) -> Any:
    """Send a transaction, retrying only throttling (with the same token, so at most once)."""
    stats = CallStats(operation)
    policy = batch.retry
    started = time.monotonic()
    try:
        for attempt in range(1, policy.max_attempts + 1):
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
                elif is_throttle(error) or code == "TransactionInProgressException":
                    last = ThrottledError(operation, code, attempt)
                else:
                    raise
            stats.throttles += 1
            out_of_time = (
                policy.deadline is not None and time.monotonic() - started >= policy.deadline
            )
            if attempt == policy.max_attempts or out_of_time:
                break
            time.sleep(policy.backoff(attempt))
        stats.given_up += len(actions)
        raise last
    finally:
        stats.emit(batch.metrics)


def transact_write(
    batch: BatchClient,
    actions: Sequence[TransactWriteAction],
    client_request_token: str | None,
    return_old_on_condition_failure: bool,
) -> dict[str, Any]:
    """See :meth:`BatchClient.transact_write`."""
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
    # A token makes DynamoDB's own retries and ours idempotent for 10 minutes.
    token = client_request_token or str(uuid.uuid4())
    kwargs: dict[str, Any] = {"TransactItems": items, "ClientRequestToken": token}
    if batch.metrics is not None:
        kwargs["ReturnConsumedCapacity"] = "TOTAL"
    response: dict[str, Any] = _run(
        batch,
        "TransactWriteItems",
        lambda: batch.client.transact_write_items(**kwargs),
        actions,
        token,
    )
    return response


def transact_get(batch: BatchClient, gets: Sequence[TransactGet]) -> list[Item | None]:
    """See :meth:`BatchClient.transact_get`."""
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
        batch, "TransactGetItems", lambda: batch.client.transact_get_items(**kwargs), gets, None
    )
    return [
        deserialize_item(r["Item"]) if r.get("Item") else None
        for r in response.get("Responses", ())
    ]
