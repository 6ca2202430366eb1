"""BatchWriteItem for any number of puts and deletes, across tables, with bounded memory."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .constants import MAX_ITEM_BYTES, MAX_WRITE_ITEMS
from .engine import Entry, Outcome, run_engine
from .exceptions import ItemTooLargeError, UnprocessedItemsError
from .metrics import CallStats
from .serde import deserialize_item, item_size, key_identity, key_of, serialize_item
from .types import Capacity, ChunkError, Delete, Put, WriteResult

if TYPE_CHECKING:
    from .client import BatchClient

__all__ = ["write", "BatchWriter", "ops_from_request_items"]

WriteOp = Put | Delete


def ops_from_request_items(
    request_items: Mapping[str, Iterable[Mapping[str, Any]]],
) -> list[WriteOp]:
    """Turn ``{table: [{"PutRequest": {"Item": ...}} | {"DeleteRequest": {"Key": ...}}]}``
    (plain Python, as in :attr:`WriteResult.unprocessed`) into write operations.

    Raises
    ------
    ValueError
        For a request that is neither a PutRequest nor a DeleteRequest.
    """
    ops: list[WriteOp] = []
    for table, requests in request_items.items():
        for request in requests:
            if "PutRequest" in request:
                ops.append(Put(table, request["PutRequest"]["Item"]))
            elif "DeleteRequest" in request:
                ops.append(Delete(table, request["DeleteRequest"]["Key"]))
            else:
                raise ValueError(f"not a PutRequest or DeleteRequest: {request!r}")
    return ops


class _Write:
    """One write_items call: turns operations into entries and responses into a result."""

    def __init__(self, batch: BatchClient) -> None:
        self.batch = batch
        self.result = WriteResult()
        self.want_capacity = bool(batch.metrics is not None or batch.capacity_write)
        self.stats = CallStats("BatchWriteItem")

    def entry(self, op: WriteOp) -> Entry:
        names = self.batch.key_names(op.table)
        if isinstance(op, Put):
            wire = serialize_item(op.item)
            size = item_size(wire)
            if size > MAX_ITEM_BYTES:
                raise ItemTooLargeError(op.table, _plain_key(op.item, names), size, MAX_ITEM_BYTES)
            key = key_of(wire, names)
            request: dict[str, Any] = {"PutRequest": {"Item": wire}}
            units = float(max(1, math.ceil(size / 1024)))
        elif isinstance(op, Delete):
            key = key_of(serialize_item(op.key), names)
            request = {"DeleteRequest": {"Key": key}}
            size = item_size(key)
            units = 1.0
        else:
            raise TypeError(f"expected Put or Delete, got {type(op).__name__}")
        return Entry(op.table, (op.table, key_identity(key)), request, size, units)

    def entries(self, ops: Iterable[WriteOp]) -> Iterator[Entry]:
        for op in ops:
            if not isinstance(op, (Put, Delete)):
                raise TypeError(f"expected Put or Delete, got {type(op).__name__}")
            try:
                yield self.entry(op)
            except (ValueError, TypeError) as error:
                # A stream cannot be checked whole before sending: the bad request is
                # refused, never sent, and reported with the others left unprocessed.
                code = "ItemTooLarge" if isinstance(error, ItemTooLargeError) else "InvalidItem"
                self.result.errors.append(ChunkError(code, str(error), 1))
                self._leave(op.table, _plain_request(op))

    def send(self, chunk: list[Entry]) -> Outcome:
        request_items: dict[str, list[Any]] = {}
        for entry in chunk:
            request_items.setdefault(entry.table, []).append(entry.request)
        kwargs: dict[str, Any] = {"RequestItems": request_items}
        if self.want_capacity:
            kwargs["ReturnConsumedCapacity"] = "TOTAL"
        response = self.batch.client.batch_write_item(**kwargs)
        by_ident = {entry.ident: entry for entry in chunk}
        unprocessed = []
        for table, requests in response.get("UnprocessedItems", {}).items():
            names = self.batch.key_names(table)
            for request in requests:
                if "PutRequest" in request:
                    key = key_of(request["PutRequest"]["Item"], names)
                else:
                    key = request["DeleteRequest"]["Key"]
                unprocessed.append(by_ident[(table, key_identity(key))])
        return Outcome(
            sent=chunk,
            unprocessed=unprocessed,
            consumed=response.get("ConsumedCapacity"),
            throttled=bool(unprocessed),
        )

    def _leave(self, table: str, request: dict[str, Any]) -> None:
        self.result.unprocessed.setdefault(table, []).append(request)

    def run(self, ops: Iterable[WriteOp]) -> WriteResult:
        batch, result, stats = self.batch, self.result, self.stats
        if isinstance(ops, Sequence):
            # A list can be checked whole, so nothing is sent when one item is too large,
            # and de-duplicated whole, so no key is written twice.
            unique: dict[Any, Entry] = {}
            for op in ops:
                entry = self.entry(op)
                if unique.pop(entry.ident, None) is not None:
                    result.superseded += 1
                unique[entry.ident] = entry
            entries: Iterable[Entry] = list(unique.values())
        else:
            entries = self.entries(ops)
        try:
            for event in run_engine(
                entries,
                self.send,
                executor=batch.executor,
                concurrency=batch.concurrency,
                max_count=MAX_WRITE_ITEMS,
                max_bytes=batch.max_request_bytes,
                policy=batch.retry,
                stats=stats,
                bucket=batch.capacity_write,
            ):
                result.superseded += event.superseded
                outcome = event.outcome
                if outcome is not None:
                    self._settle(outcome)
                for entry in event.given_up:
                    self._leave(entry.table, _plain_wire_request(entry.request))
        finally:
            result.requests = stats.requests
            stats.items = result.written
            stats.emit(batch.metrics)
        return result

    def _settle(self, outcome: Outcome) -> None:
        result = self.result
        if outcome.error is not None:
            code, message = outcome.error
            result.errors.append(ChunkError(code, message, len(outcome.sent)))
            return
        result.written += len(outcome.sent) - len(outcome.unprocessed)
        for entry in outcome.consumed or ():
            result.consumed_capacity.setdefault(entry["TableName"], Capacity()).add(entry)
        self.stats.add_capacity(outcome.consumed)


def write(batch: BatchClient, ops: Iterable[WriteOp], raise_on_unprocessed: bool) -> WriteResult:
    """Run one batch write; see :meth:`BatchClient.write_items`."""
    result = _Write(batch).run(ops)
    if raise_on_unprocessed and not result.complete:
        raise UnprocessedItemsError(result)
    return result


def _plain_key(item: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: item[name] for name in names if name in item}


def _plain_request(op: WriteOp) -> dict[str, Any]:
    if isinstance(op, Put):
        return {"PutRequest": {"Item": dict(op.item)}}
    return {"DeleteRequest": {"Key": dict(op.key)}}


def _plain_wire_request(request: Mapping[str, Any]) -> dict[str, Any]:
    if "PutRequest" in request:
        return {"PutRequest": {"Item": deserialize_item(request["PutRequest"]["Item"])}}
    return {"DeleteRequest": {"Key": deserialize_item(request["DeleteRequest"]["Key"])}}


class BatchWriter:
    """Push-style writer, like boto3's ``batch_writer`` but parallel, bounded and lossless.

    Buffers up to ``buffer_size`` operations, then writes them with
    :meth:`BatchClient.write_items`. On leaving the ``with`` block it flushes what is left
    and, unless ``raise_on_unprocessed=False``, raises :class:`UnprocessedItemsError`
    carrying every request that could not be written. Operations on one key keep their
    order, so the last put or delete of a key wins.

    Example
    -------
    >>> with batch.writer() as writer:  # doctest: +SKIP
    ...     for device in devices:
    ...         writer.put("devices", device)
    >>> writer.result.written  # doctest: +SKIP
    """

    def __init__(
        self, batch: BatchClient, buffer_size: int | None = None, raise_on_unprocessed: bool = True
    ) -> None:
        self.batch = batch
        self.buffer_size = buffer_size or batch.concurrency * MAX_WRITE_ITEMS
        self.raise_on_unprocessed = raise_on_unprocessed
        self.result = WriteResult()
        self._buffer: list[WriteOp] = []

    def put(self, table: str, item: Mapping[str, Any]) -> None:
        """Queue a put of ``item`` into ``table``."""
        self._add(Put(table, item))

    def delete(self, table: str, key: Mapping[str, Any]) -> None:
        """Queue a delete of ``key`` from ``table``."""
        self._add(Delete(table, key))

    def _add(self, op: WriteOp) -> None:
        self._buffer.append(op)
        if len(self._buffer) >= self.buffer_size:
            self.flush()

    def flush(self) -> WriteResult:
        """Write everything buffered now; returns the running total result."""
        buffer, self._buffer = self._buffer, []
        if buffer:
            part = _Write(self.batch).run(buffer)
            total = self.result
            total.written += part.written
            total.superseded += part.superseded
            total.requests += part.requests
            total.errors.extend(part.errors)
            for table, requests in part.unprocessed.items():
                total.unprocessed.setdefault(table, []).extend(requests)
            for table, capacity in part.consumed_capacity.items():
                total.consumed_capacity.setdefault(table, Capacity()).merge(capacity)
        return self.result

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.flush()
        if exc_type is None and self.raise_on_unprocessed and not self.result.complete:
            raise UnprocessedItemsError(self.result)
