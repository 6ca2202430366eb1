"""UpdateItem for any number of keys, with the layer's concurrency, budgets and contract.

BatchWriteItem cannot update, so a bulk partial update ("set ``state`` on 10,000 devices
without reading them") is one UpdateItem per key. This module runs them through the same
engine as batch writes (one update a request): at most ``concurrency`` in flight, the
write capacity budget, throttles retried with jittered backoff within the retry budget,
and the call's deadline. Each update ends applied or in ``result.failed`` with its key and
reason; a false condition is reported, never retried.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr, ConditionExpressionBuilder
from botocore.exceptions import BotoCoreError, ClientError

from .context import TableUnavailable
from .engine import EngineEvent, Entry, Outcome, Scheduler
from .exceptions import BatchLayerError
from .expressions import build_condition, merge_expression_parts
from .metrics import CallStats
from .retry import Deadline, error_code
from .serde import deserialize_item, serialize_item
from .types import Capacity, FailedUpdate, Update, UpdateResult

if TYPE_CHECKING:
    from .context import BatchContext

__all__ = ["UpdateItemsError", "build_update_request", "update_items"]

CONDITION_FAILED = "ConditionalCheckFailedException"


class UpdateItemsError(BatchLayerError):
    """Updates not all applied, or the call stopped because the caller's source raised.

    Nothing is in flight when it is raised. ``result`` is the call's
    :class:`~dynabatch.UpdateResult`: ``result.failed`` lists every update pulled and not
    applied, with its reason. When the source raised, that exception is ``__cause__``.
    """

    def __init__(self, result: UpdateResult, stopped_by: BaseException | None = None) -> None:
        self.result = result
        counts = Counter(f.code for f in result.failed)
        summary = ", ".join(f"{n} {code}" for code, n in counts.items()) or "none failed"
        lead = f"stopped by {type(stopped_by).__name__}: {stopped_by}; " if stopped_by else ""
        super().__init__(
            f"{lead}{result.updated} update(s) applied, {len(result.failed)} not: {summary}"
        )


def build_update_request(
    update: Update, key_names: tuple[str, ...], *, create_missing: bool = True
) -> dict[str, Any]:
    """The UpdateItem parameters of ``update`` (without the Return* options).

    ``set``/``remove`` names go through ``#u<n>`` placeholders and values through
    ``:u<n>``, clear of boto3's ``#n<n>``/``:v<n>`` for a condition; a raw expression keeps
    the caller's names and values. With ``create_missing=False`` the condition also
    requires the item to exist, so an update never creates an item.

    Raises
    ------
    ValueError
        The key lacks a key attribute, ``set``/``remove`` names a key attribute, or two
        placeholders clash.

    Example
    -------
    >>> build_update_request(Update("devices", {"deviceId": "d-1"}, set={"state": "off"}),
    ...                      ("deviceId",))  # doctest: +NORMALIZE_WHITESPACE
    {'TableName': 'devices', 'Key': {'deviceId': {'S': 'd-1'}},
     'UpdateExpression': 'SET #u0 = :u0', 'ExpressionAttributeNames': {'#u0': 'state'},
     'ExpressionAttributeValues': {':u0': {'S': 'off'}}}
    """
    missing = [name for name in key_names if name not in update.key]
    if missing:
        raise ValueError(f"key lacks key attribute {missing[0]!r}")
    key = {name: update.key[name] for name in key_names}
    request: dict[str, Any] = {"TableName": update.table, "Key": serialize_item(key)}
    if update.update_expression is not None:
        request["UpdateExpression"] = update.update_expression
    else:
        merge_expression_parts(request, _simple_expression(update, key_names))
    if update.names:
        merge_expression_parts(request, {"ExpressionAttributeNames": dict(update.names)})
    if update.values:
        merge_expression_parts(
            request, {"ExpressionAttributeValues": serialize_item(update.values)}
        )
    condition = update.condition
    if not create_missing:
        exists = Attr(key_names[0]).exists()
        if condition is None:
            condition = exists
        elif isinstance(condition, str):
            # The caller's string keeps its placeholders; the existence test gets its own.
            condition = f"({condition}) AND attribute_exists(#exists_pk)"
            merge_expression_parts(
                request, {"ExpressionAttributeNames": {"#exists_pk": key_names[0]}}
            )
        else:
            condition = condition & exists
    if condition is not None:
        merge_expression_parts(
            request,
            build_condition(
                condition,
                parameter="ConditionExpression",
                builder=ConditionExpressionBuilder(),
            ),
        )
    return request


def _simple_expression(update: Update, key_names: tuple[str, ...]) -> dict[str, Any]:
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    clauses = []
    sets = []
    for index, (name, value) in enumerate((update.set or {}).items()):
        names[f"#u{index}"] = name
        values[f":u{index}"] = value
        sets.append(f"#u{index} = :u{index}")
    if sets:
        clauses.append("SET " + ", ".join(sets))
    offset = len(names)
    removes = []
    for index, name in enumerate(update.remove, start=offset):
        names[f"#u{index}"] = name
        removes.append(f"#u{index}")
    if removes:
        clauses.append("REMOVE " + ", ".join(removes))
    touched = set(names.values()) & set(key_names)
    if touched:
        raise ValueError(f"cannot update key attribute {sorted(touched)[0]!r}")
    parts: dict[str, Any] = {"UpdateExpression": " ".join(clauses)}
    parts["ExpressionAttributeNames"] = names
    if values:
        parts["ExpressionAttributeValues"] = serialize_item(values)
    return parts


class _Updates:
    """One update_items call: updates to engine entries, outcomes to the result."""

    def __init__(
        self,
        batch: BatchContext,
        deadline: Deadline,
        *,
        create_missing: bool,
        return_old: bool,
        return_consumed_capacity: bool,
    ) -> None:
        self.batch = batch
        self.deadline = deadline
        self.create_missing = create_missing
        self.return_old = return_old
        self.want_capacity = bool(
            return_consumed_capacity or batch.metrics is not None or batch.capacity_write
        )
        self.result = UpdateResult()
        self.updates: dict[Hashable, Update] = {}
        self.stopped_by: BaseException | None = None
        self.stats = CallStats("UpdateItem")
        self._table_errors: dict[str, tuple[str, str]] = {}
        self._sends = 0
        self._lock = threading.Lock()
        self._old_items: dict[Hashable, Any] = {}

    # -- the source --------------------------------------------------------------------

    def entries(self, updates: Iterable[Update]) -> Iterator[Entry]:
        source = iter(updates)
        for index in itertools.count():
            try:
                update = next(source)
            except StopIteration:
                return
            except BaseException as error:  # settled, then raised by update_items()
                self.stopped_by = error
                return
            if not isinstance(update, Update):
                # Typed callers cannot get here; untyped ones get a clear error.
                self.stopped_by = TypeError(  # type: ignore[unreachable]
                    f"expected an Update, got {type(update).__name__}"
                )
                return
            entry = self.entry(index, update)
            if entry is not None:
                yield entry

    def entry(self, index: int, update: Update) -> Entry | None:
        if self.deadline.expired():
            self.fail(update, "DeadlineExceeded", "not sent before the deadline")
            return None
        try:
            request = build_update_request(
                update, self.key_names(update.table), create_missing=self.create_missing
            )
        except _TableUnknown as error:
            self.fail(update, error.code, error.message)
            return None
        except (ValueError, TypeError) as error:
            self.fail(update, "InvalidUpdate", str(error))
            return None
        # ALL_OLD also tells a missing item (no old item) from a false condition.
        if self.return_old or not self.create_missing:
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        if self.want_capacity:
            request["ReturnConsumedCapacity"] = "TOTAL"
        self.updates[index] = update
        # Identity is the position, not the key: two updates of one key are two changes
        # (an ADD twice is not an ADD once), so neither may supersede the other.
        return Entry(update.table, index, request, size=0, units=1.0)

    def key_names(self, table: str) -> tuple[str, ...]:
        failure = self._table_errors.get(table)
        if failure is not None:
            raise _TableUnknown(*failure)
        names = self.batch.known_key_names(table)
        if names is None:
            try:
                names = self.batch.key_names(table)
            except TableUnavailable as error:
                self._table_errors[table] = (error.code, error.message)
                raise _TableUnknown(error.code, error.message) from None
            except (ClientError, BotoCoreError) as error:
                if isinstance(error, ClientError):
                    code = error_code(error)
                    message = str(error.response.get("Error", {}).get("Message", error))
                else:
                    code, message = type(error).__name__, str(error)
                # Remembered, so a missing table costs one DescribeTable, not one per key.
                self._table_errors[table] = (code, message)
                raise _TableUnknown(code, message) from None
        return names

    # -- sending (on a pool thread) -------------------------------------------------------

    def send(self, chunk: list[Entry]) -> Outcome:
        (entry,) = chunk
        with self._lock:
            self._sends += 1
        try:
            response = self.batch.call("UpdateItem", entry.request)
        except ClientError as error:
            if error_code(error) != CONDITION_FAILED:
                raise  # the engine retries throttles and reports the rest
            old = error.response.get("Item")
            message = str(error.response.get("Error", {}).get("Message", ""))
            return Outcome(
                sent=chunk,
                error=(CONDITION_FAILED, message),
                payload=deserialize_item(old) if old else None,
            )
        consumed = response.get("ConsumedCapacity")
        return Outcome(sent=chunk, consumed=[consumed] if consumed else None)

    # -- results ------------------------------------------------------------------------

    def fail(
        self, update: Update, code: str, message: str, old_item: dict[str, Any] | None = None
    ) -> None:
        names = self.batch.known_key_names(update.table)
        key = {n: update.key[n] for n in names if n in update.key} if names else dict(update.key)
        self.result.failed.append(FailedUpdate(update.table, key, code, message, old_item))

    def handle(self, event: EngineEvent) -> None:
        """Fold one scheduler event into the result: a finished request, or updates the
        scheduler gave up (a false condition, the retry budget, the deadline, an abort)."""
        result = self.result
        outcome = event.outcome
        if outcome is not None and not outcome.not_sent:
            (entry,) = outcome.sent
            if outcome.error is not None:
                # The scheduler reports this entry as given up in the same event.
                self._old_items[entry.ident] = outcome.payload
            elif not outcome.unprocessed:
                update = self.updates.pop(entry.ident)
                result.updated += 1
                for consumed in (outcome.consumed if self.want_capacity else None) or ():
                    result.consumed_capacity.setdefault(update.table, Capacity()).add(consumed)
                self.stats.add_capacity(outcome.consumed)
        for gone in event.given_up:
            update = self.updates.pop(gone.entry.ident)
            old = self._old_items.pop(gone.entry.ident, None)
            code, message = gone.code, gone.reason
            if code == CONDITION_FAILED and old is None and not self.create_missing:
                code, message = "ItemNotFound", "no item at this key (create_missing is off)"
            elif code == "RetriesExhausted":
                message = f"throttled on all {gone.entry.attempts} attempt(s) of the retry budget"
            self.fail(update, code, message, old if self.return_old else None)


class _TableUnknown(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


def update_items(
    batch: BatchContext,
    updates: Iterable[Update],
    *,
    create_missing: bool = False,
    return_old_on_condition_failure: bool = False,
    return_consumed_capacity: bool = False,
    deadline_at: float | None = None,
    raise_on_failure: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> UpdateResult:
    """Run one update_items call; see :meth:`BatchClient.update_items`."""
    deadline = Deadline(batch.retry, deadline_at)
    call = _Updates(
        batch,
        deadline,
        create_missing=create_missing,
        return_old=return_old_on_condition_failure,
        return_consumed_capacity=return_consumed_capacity,
    )
    scheduler = Scheduler(
        call.send,
        executor=batch.executor,
        concurrency=batch.concurrency,
        max_count=1,
        max_bytes=batch.max_request_bytes,
        policy=batch.retry,
        deadline=deadline,
        stats=call.stats,
        bucket=batch.capacity_write,
        sleep=sleep,
    )
    try:
        for event in scheduler.run(call.entries(updates), drain_on_deadline=False):
            call.handle(event)
    except BaseException as error:
        # Interrupted while waiting: settle what is in flight, report the rest, re-raise.
        for event in scheduler.abort(error):
            call.handle(event)
        error.result = call.result  # type: ignore[attr-defined]
        raise
    finally:
        result = call.result
        result.requests = call._sends
        result.throttles = call.stats.throttles
        call.stats.items = result.updated
        call.stats.emit(batch.metrics)
    if call.stopped_by is not None:
        if not isinstance(call.stopped_by, Exception):
            call.stopped_by.result = result  # type: ignore[attr-defined]
            raise call.stopped_by
        raise UpdateItemsError(result, call.stopped_by) from call.stopped_by
    if raise_on_failure and not result.complete:
        raise UpdateItemsError(result)
    return result
