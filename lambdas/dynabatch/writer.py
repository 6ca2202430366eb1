"""BatchWriteItem for any number of puts and deletes, across tables, with bounded memory."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from .checks import prepare_item, prepare_key
from .codec import decode_item, encode_item, load_body, write_requests_body
from .constants import MAX_ITEM_BYTES, MAX_WRITE_ITEMS
from .context import BatchContext, TableUnavailable
from .engine import EngineEvent, Entry, GivenUp, Outcome, Scheduler
from .exceptions import (
    BatchAbortedError,
    InvalidItemError,
    ItemTooLargeError,
    UnprocessedItemsError,
)
from .keys import encode_plain_key, fast_key_identity, string_partition_key, wire_identity
from .metrics import CallStats
from .retry import Deadline
from .serde import deserialize_item, item_size, key_identity
from .types import Capacity, Delete, Failure, Put, RequestEvent, WriteResult

__all__ = [
    "write",
    "BatchWriter",
    "TableOps",
    "WriteOptions",
    "ops_from_request_items",
    "request_events",
]

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


class TableOps(Sequence[Any]):
    """A list of items (or keys) seen as puts (or deletes) into one table, each op made
    only when read: a long list is not doubled by as many op objects, and the writer
    reads the items straight from the list."""

    def __init__(self, kind: type[Put] | type[Delete], table: str, values: Sequence[Any]) -> None:
        self.kind, self.table, self.values = kind, table, values

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self.kind(self.table, value) for value in self.values[index]]
        return self.kind(self.table, self.values[index])

    def __iter__(self) -> Iterator[Any]:
        kind, table = self.kind, self.table
        for value in self.values:
            yield kind(table, value)


@dataclass(frozen=True)
class WriteOptions:
    """Per-call options of a batch write."""

    raise_on_unprocessed: bool = True
    return_consumed_capacity: bool = False
    deadline_at: float | None = None
    on_request: Callable[[RequestEvent], None] | None = None


class _Write:
    """One write_items call: turns operations into entries and responses into a result."""

    def __init__(self, ctx: BatchContext, options: WriteOptions) -> None:
        self.ctx = ctx
        self.options = options
        self.result = WriteResult()
        self.want_capacity = bool(
            options.return_consumed_capacity or ctx.metrics is not None or ctx.capacity_write
        )
        self.on_request = options.on_request or ctx.on_request
        self.stats = CallStats("BatchWriteItem")
        self._names: dict[str, tuple[str, ...] | TableUnavailable] = {}
        self._unique: dict[Hashable, int | Entry] = {}
        self._ops: Sequence[WriteOp] = ()
        self.deadline = Deadline(ctx.retry, options.deadline_at, ctx.clock)
        # A put's size is needed before sending only to pace a capacity budget or to pack
        # requests under a byte limit tighter than 25 items of 400 KB: otherwise the
        # worker that sends it encodes and sizes it (refusing it alone if it must).
        self.defer = bool(
            ctx.lean
            and ctx.capacity_write is None
            and ctx.max_request_bytes >= MAX_WRITE_ITEMS * MAX_ITEM_BYTES
        )

    def key_names(self, table: str) -> tuple[str, ...]:
        # One DescribeTable per table and call at most, a failure remembered too.
        names = self._names.get(table)
        if names is None:
            known = self.ctx.known_key_names(table)
            if known is None and self.deadline.expired():
                # Describing the table would be a request after the deadline.
                raise TableUnavailable(table, "DeadlineExceeded", "the call's deadline passed")
            try:
                names = known or self.ctx.key_names(table)
            except TableUnavailable as error:
                names = error
            self._names[table] = names
        if isinstance(names, TableUnavailable):
            raise names
        return names

    def entry(self, op: WriteOp) -> Entry:
        names = self.key_names(op.table)
        types = self.ctx.key_types(op.table)
        if self.ctx.lean:
            if isinstance(op, Put):
                return _lean_entry(True, op.table, op.item, names, types)
            return _lean_entry(False, op.table, op.key, names, types)
        if isinstance(op, Put):
            wire, size, key = prepare_item(op.table, op.item, names, types)
            request: dict[str, Any] = {"PutRequest": {"Item": wire}}
            units = float(max(1, math.ceil(size / 1024)))
        else:
            key = prepare_key(op.table, op.key, names, types)
            request = {"DeleteRequest": {"Key": key}}
            size = item_size(key)
            units = 1.0
        return Entry(op.table, (op.table, key_identity(key)), request, size, units)

    def entries(self, ops: Iterable[WriteOp]) -> Iterator[Entry]:
        """Entries of ``ops``; a bad op is reported on its own and never sent."""
        for op in ops:
            if not isinstance(op, (Put, Delete)):
                raise TypeError(f"expected Put or Delete, got {type(op).__name__}")
            try:
                yield self.entry(op)
            except InvalidItemError as error:
                self._refuse(op, error.code, str(error), error.key)
            except TableUnavailable as error:
                self._refuse(op, error.code, error.message, None)

    def _refuse(self, op: WriteOp, code: str, reason: str, key: dict[str, Any] | None) -> None:
        request = _plain_request(op)
        if key is None and isinstance(op, Delete) and isinstance(op.key, Mapping):
            key = dict(op.key)
        self.result.failures.append(Failure(op.table, key, code, reason, request, 0))

    def prepare(self, chunk: list[Entry]) -> tuple[list[Entry], list[tuple[Entry, str, str]]]:
        """On the worker, before sending: encode the puts not encoded yet; an item
        DynamoDB would refuse is refused alone, the rest go."""
        ready: list[Entry] = []
        refused: list[tuple[Entry, str, str]] = []
        for entry in chunk:
            if entry.text is None:
                names = self.key_names(entry.table)
                try:
                    text, size = _encode_put(
                        entry.table, entry.value, names, self.ctx.key_types(entry.table)
                    )
                except InvalidItemError as error:
                    refused.append((entry, error.code, str(error)))
                    continue
                entry.text, entry.size, entry.units = text, size, _write_units(size)
            ready.append(entry)
        return ready, refused

    def send(self, chunk: list[Entry]) -> Outcome:
        # Runs on a worker: building the body (lean) or botocore's serialising happens here.
        if self.ctx.lean:
            return self.outcome(chunk, self.ctx.send_body(*self.request(chunk)))
        request_items: dict[str, list[Any]] = {}
        for entry in chunk:
            request_items.setdefault(entry.table, []).append(entry.request)
        params: dict[str, Any] = {"RequestItems": request_items}
        if self.want_capacity:
            params["ReturnConsumedCapacity"] = "TOTAL"
        return self.outcome(chunk, self.ctx.call("BatchWriteItem", params))

    def request(self, chunk: list[Entry]) -> tuple[str, str]:
        """The lean wire's BatchWriteItem body for ``chunk``."""
        request_items: dict[str, list[Any]] = {}
        for entry in chunk:
            texts = request_items.get(entry.table)
            if texts is None:
                request_items[entry.table] = [entry.text]
            else:
                texts.append(entry.text)
        capacity = "TOTAL" if self.want_capacity else None
        return "BatchWriteItem", write_requests_body(request_items, capacity)

    def outcome(self, chunk: list[Entry], response: dict[str, Any]) -> Outcome:
        """What a BatchWriteItem response says of ``chunk`` (either wire)."""
        unprocessed = []
        left = response.get("UnprocessedItems")
        if left:
            by_ident = {entry.ident: entry for entry in chunk}
            for table, requests in left.items():
                names = self.key_names(table)
                for request in requests:
                    if "PutRequest" in request:
                        wire = request["PutRequest"]["Item"]
                    else:
                        wire = request["DeleteRequest"]["Key"]
                    # The lean wire hands binary back as base64 text; identities use bytes.
                    unprocessed.append(by_ident[(table, wire_identity(wire, names))])
        return Outcome(
            sent=chunk,
            unprocessed=unprocessed,
            consumed=response.get("ConsumedCapacity"),
            throttled=bool(unprocessed),
        )

    def _source(self, ops: Iterable[WriteOp]) -> tuple[Iterator[Entry], bool]:
        if not isinstance(ops, Sequence):
            return self.entries(ops), False
        # A list is de-duplicated whole, so no key is written twice. Only the keys are
        # looked at up front; each op is encoded when the scheduler pulls it, so a long
        # list is never held encoded all at once. Each key maps to the position of its
        # last op (an int, nothing for the garbage collector to walk), or to the entry of
        # an unusual op checked here as a whole.
        quick = self._last_positions(ops)
        if quick is not None:
            positions, pairs = quick
            self._unique, self._ops = positions, ops
            self.result.superseded += len(ops) - len(positions)
            return self._entries_of(ops, pairs), True
        unique: dict[Hashable, int | Entry] = {}
        self._unique, self._ops = unique, ops
        table: str | None = None
        names: tuple[str, ...] = ()
        types: Mapping[str, str] | None = None
        made: int | Entry
        for position, (op_table, _, value) in enumerate(_parts(ops)):
            try:
                if op_table != table:
                    table = None  # until the table is known to be there
                    names, types = self.key_names(op_table), self.ctx.key_types(op_table)
                    table = op_table
                fast = fast_key_identity(value, names, types)
                if fast is None:  # an unusual key: checked (and refused) here, as a whole
                    entry = self.entry(ops[position])
                    made, ident = entry, entry.ident
                else:
                    made, ident = position, (op_table, fast)
            except InvalidItemError as error:
                self._refuse(ops[position], error.code, str(error), error.key)
                continue
            except TableUnavailable as error:
                self._refuse(ops[position], error.code, error.message, None)
                continue
            if unique.pop(ident, None) is not None:
                self.result.superseded += 1
            unique[ident] = made
        return self._entries_of(ops, list(unique.items())), True

    def _last_positions(
        self, ops: Sequence[WriteOp]
    ) -> tuple[dict[Hashable, int | Entry], Iterator[tuple[Hashable, int | Entry]]] | None:
        """The pass of :meth:`_source` for the usual list (one table's dicts keyed by one
        non-empty ``str`` within the key limit), in a few comprehensions: it runs before
        the first request can leave (~0.3 against ~0.75 µs an op). Each key's position of
        its last op, and (made as they are pulled) the identities with those positions.
        ``None`` when any op is not so: the general pass then checks each one."""
        if type(ops) is not TableOps:
            return None
        table = ops.table
        try:
            names, types = self.key_names(table), self.ctx.key_types(table)
        except TableUnavailable:
            return None  # the general pass refuses each op with the reason
        found = [string_partition_key(value, names, types) for value in ops.values]
        if None in found:
            return None
        # A key seen again keeps its first place and takes its last op's position.
        last: dict[Hashable, int | Entry] = {
            made[1]: position for position, made in enumerate(found) if made
        }
        name = names[0]
        return last, (((table, (name, key)), made) for key, made in last.items())

    def _entries_of(
        self, ops: Sequence[WriteOp], unique: Iterable[tuple[Hashable, int | Entry]]
    ) -> Iterator[Entry]:
        lean, defer = self.ctx.lean, self.defer
        table: str | None = None
        names: tuple[str, ...] = ()
        types: Mapping[str, str] | None = None
        for ident, made in unique:
            if isinstance(made, Entry):
                yield made
                continue
            try:
                if not lean:
                    yield self.entry(ops[made])
                    continue
                op_table, is_put, value = _part(ops, made)
                if is_put and defer:  # encoded by the worker that sends it (prepare)
                    yield Entry(op_table, ident, "PutRequest", 0, 1.0, value=value)
                    continue
                if op_table != table:  # tables were all described in the first pass
                    table = op_table
                    names, types = self.key_names(table), self.ctx.key_types(table)
                yield _lean_entry(is_put, op_table, value, names, types, ident)
            except InvalidItemError as error:
                self._refuse(ops[made], error.code, str(error), error.key)

    def run(self, ops: Iterable[WriteOp]) -> WriteResult:
        ctx, stats = self.ctx, self.stats
        scheduler: Scheduler | None = None
        multiplexer = ctx.multiplexer()
        try:
            source, is_list = self._source(ops)
            scheduler = Scheduler(
                self.send,
                executor=ctx.executor if multiplexer is None else None,
                concurrency=ctx.concurrency,
                max_count=MAX_WRITE_ITEMS,
                max_bytes=ctx.max_request_bytes,
                policy=ctx.retry,
                deadline=self.deadline,
                stats=stats,
                bucket=ctx.capacity_write,
                sleep=ctx.sleep,
                prepare=self.prepare if self.defer else None,
                multiplexer=(multiplexer, self.request, self.outcome) if multiplexer else None,
            )
            for event in scheduler.run(source, drain_on_deadline=is_list):
                self._handle(event, notify=True)
        except BaseException as error:
            if scheduler is not None:
                for event in scheduler.abort(error):
                    self._handle(event, notify=False)
            else:  # stopped while a list was being checked: none of it was sent
                reason = f"not sent: the call stopped on {type(error).__name__}: {error}"
                for made in self._unique.values():
                    if isinstance(made, Entry):
                        gone = GivenUp(made, "Aborted", reason)
                        self._handle(EngineEvent(given_up=[gone]), False)
                        continue
                    op = self._ops[made]
                    key = dict(op.key) if isinstance(op, Delete) else None
                    request = _plain_request(op)
                    self.result.failures.append(Failure(op.table, key, "Aborted", reason, request))
            raise
        finally:
            if multiplexer is not None:
                multiplexer.close()
            self.result.requests = stats.requests
            self.result.retries = stats.retried
            self.result.throttles = stats.throttles
            stats.items = self.result.written
            stats.emit(ctx.metrics)
        return self.result

    def _handle(self, event: EngineEvent, notify: bool) -> None:
        result = self.result
        result.superseded += event.superseded
        for gone in event.given_up:
            result.failures.append(self._failure(gone))
        outcome = event.outcome
        if outcome is None or outcome.error is not None:
            return
        result.written += len(outcome.sent) - len(outcome.unprocessed)
        for entry in outcome.consumed or ():
            result.consumed_capacity.setdefault(entry["TableName"], Capacity()).add(entry)
        self.stats.add_capacity(outcome.consumed)
        if notify and self.on_request is not None and not outcome.not_sent:
            for event_for_table in request_events("BatchWriteItem", outcome):
                self.on_request(event_for_table)

    def _failure(self, gone: GivenUp) -> Failure:
        entry = gone.entry
        code, reason = gone.code, gone.reason
        if entry.text is None and entry.value is not None and entry.request == "PutRequest":
            # Given up before a worker encoded it: say so if it could never be written.
            names = self.key_names(entry.table)
            try:
                _encode_put(entry.table, entry.value, names, self.ctx.key_types(entry.table))
            except InvalidItemError as error:
                code, reason = error.code, str(error)
        if entry.value is not None:  # the op as the caller gave it
            value = entry.value
            plain = dict(value) if isinstance(value, Mapping) else value
            request = {entry.request: {_MEMBER[entry.request]: plain}}
        elif entry.text is not None:
            ((kind, wrapped),) = load_body(entry.text).items()
            request = {kind: {_MEMBER[kind]: decode_item(wrapped[_MEMBER[kind]])}}
        else:
            request = _plain_wire_request(entry.request)
        if "PutRequest" in request:
            known = self._names.get(entry.table)
            item = request["PutRequest"]["Item"]
            key = {n: item[n] for n in known if n in item} if isinstance(known, tuple) else None
        else:
            key = request["DeleteRequest"]["Key"]
        return Failure(entry.table, key, code, reason, request, entry.attempts)


def _parts(ops: Sequence[WriteOp]) -> Iterator[tuple[str, bool, Any]]:
    """``(table, is_put, item or key)`` of each op; one table's list (``TableOps``) is
    read straight from the caller's values, with no op object made."""
    if type(ops) is TableOps:
        table, is_put = ops.table, ops.kind is Put
        for value in ops.values:
            yield table, is_put, value
        return
    for op in ops:
        if isinstance(op, Put):
            yield op.table, True, op.item
        elif isinstance(op, Delete):
            yield op.table, False, op.key
        else:
            raise TypeError(f"expected Put or Delete, got {type(op).__name__}")


def _part(ops: Sequence[WriteOp], position: int) -> tuple[str, bool, Any]:
    """:func:`_parts` of the op at ``position``."""
    if type(ops) is TableOps:
        return ops.table, ops.kind is Put, ops.values[position]
    op = ops[position]
    if isinstance(op, Put):
        return op.table, True, op.item
    return op.table, False, op.key


#: A write request's kind to the member holding its item or key.
_MEMBER = {"PutRequest": "Item", "DeleteRequest": "Key"}


def _lean_entry(
    is_put: bool,
    table: str,
    value: Any,
    names: tuple[str, ...],
    types: Mapping[str, str] | None,
    ident: Any = None,
) -> Entry:
    """An entry for the lean wire: a put of the item ``value`` (or with ``is_put`` false, a
    delete of the key ``value``), encoded and sized in one walk, checked as
    :func:`prepare_item` checks it, with the same errors. ``ident``: the entry's identity
    (table and key), if already known."""
    if is_put:
        text, size = _encode_put(table, value, names, types)
        if ident is None:
            key = fast_key_identity(value, names, types)
            if key is None:
                key = key_identity(prepare_key(table, value, names, types))
            ident = (table, key)
        return Entry(table, ident, "PutRequest", size, _write_units(size), text=text, value=value)
    made = encode_plain_key(value, names, types)
    if made is None:
        key = key_identity(prepare_key(table, value, names, types))
        text, size = encode_item({name: value[name] for name in names})
    else:
        key, text, size = made
    if ident is None:
        ident = (table, key)
    text = f'{{"DeleteRequest":{{"Key":{text}}}}}'
    return Entry(table, ident, "DeleteRequest", size, 1.0, text=text, value=value)


def _encode_put(
    table: str, item: Any, names: tuple[str, ...], types: Mapping[str, str] | None
) -> tuple[str, int]:
    """The whole PutRequest's text (so that a request's body is only a join) and the
    item's size; :class:`InvalidItemError` for an item DynamoDB would refuse."""
    try:
        if type(item) is not dict and not isinstance(item, Mapping):
            raise TypeError("not a mapping")
        text, size = encode_item(item)
    except (TypeError, ValueError, ArithmeticError):
        # The codec refuses what serde refuses: let checks.py word the error.
        prepare_item(table, item, names, types)
        raise
    if size > MAX_ITEM_BYTES:
        plain_key = {name: item[name] for name in names if name in item} or None
        raise ItemTooLargeError(table, plain_key, size, MAX_ITEM_BYTES)
    return f'{{"PutRequest":{{"Item":{text}}}}}', size


def _write_units(size: int) -> float:
    return float(-(-size // 1024) or 1)  # one write unit per KB begun


def request_events(operation: str, outcome: Outcome) -> list[RequestEvent]:
    """One :class:`RequestEvent` per table of a finished request."""
    counts: dict[str, list[int]] = {}
    for entry in outcome.sent:
        figures = counts.setdefault(entry.table, [0, 0])
        figures[0] += 1
        figures[1] += entry.attempts > 1
    throttled = outcome.throttled or bool(outcome.unprocessed)
    return [
        RequestEvent(operation, table, n, outcome.duration, retries, throttled)
        for table, (n, retries) in counts.items()
    ]


def write(ctx: BatchContext, ops: Iterable[WriteOp], options: WriteOptions) -> WriteResult:
    """Run one batch write; see :meth:`BatchClient.write_items`."""
    job = _Write(ctx, options)
    try:
        result = job.run(ops)
    except Exception as error:
        raise BatchAbortedError(job.result, error) from error
    except BaseException as error:
        _attach(error, job.result)
        raise
    if options.raise_on_unprocessed and not result.complete:
        raise UnprocessedItemsError(result)
    return result


def _attach(error: BaseException, result: Any) -> None:
    # KeyboardInterrupt propagates as itself; the result rides on it.
    with contextlib.suppress(AttributeError):  # exceptions with __slots__
        error.result = result  # type: ignore[attr-defined]


def _plain_request(op: WriteOp) -> dict[str, Any]:
    if isinstance(op, Put):
        item = dict(op.item) if isinstance(op.item, Mapping) else op.item
        return {"PutRequest": {"Item": item}}
    key = dict(op.key) if isinstance(op.key, Mapping) else op.key
    return {"DeleteRequest": {"Key": key}}


def _plain_wire_request(request: Mapping[str, Any]) -> dict[str, Any]:
    if "PutRequest" in request:
        return {"PutRequest": {"Item": deserialize_item(request["PutRequest"]["Item"])}}
    return {"DeleteRequest": {"Key": deserialize_item(request["DeleteRequest"]["Key"])}}


class BatchWriter:
    """Push-style writer, like boto3's ``batch_writer`` but parallel, bounded and lossless.

    Buffers up to ``buffer_size`` operations, then writes them as one batch write. A bad
    op (too large, a NaN, a missing key attribute) is reported in ``result.failures`` and
    never takes the other buffered ops with it. On leaving the ``with`` block it flushes
    what is left and, unless ``raise_on_unprocessed=False``, raises
    :class:`UnprocessedItemsError` carrying every op not written. If the block raises, the
    buffer is not sent: its ops are reported as ``Aborted`` (never sent) and the error is
    raised as :class:`BatchAbortedError` carrying the result (``KeyboardInterrupt``
    propagates as itself, the result on its ``result`` attribute). Operations on one key
    keep their order, so the last put or delete of a key wins.

    Example
    -------
    >>> with batch.writer() as writer:  # doctest: +SKIP
    ...     for device in devices:
    ...         writer.put("devices", device)
    >>> writer.result.written  # doctest: +SKIP
    """

    def __init__(
        self,
        ctx: BatchContext,
        buffer_size: int | None = None,
        options: WriteOptions | None = None,
    ) -> None:
        self.ctx = ctx
        self.buffer_size = buffer_size or ctx.concurrency * MAX_WRITE_ITEMS
        self.options = options or WriteOptions()
        self.raise_on_unprocessed = self.options.raise_on_unprocessed
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
        """Write everything buffered now; returns the running total result.

        Raises
        ------
        BatchAbortedError
            When the write stopped on a caller-side failure; ``result`` is the total.
        """
        buffer, self._buffer = self._buffer, []
        if buffer:
            job = _Write(self.ctx, self.options)
            try:
                job.run(buffer)
            except Exception as error:
                self.result.merge(job.result)
                raise BatchAbortedError(self.result, error) from error
            except BaseException as error:
                self.result.merge(job.result)
                _attach(error, self.result)
                raise
            self.result.merge(job.result)
        return self.result

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            buffer, self._buffer = self._buffer, []
            reason = f"not sent: the with block raised {type(exc).__name__}: {exc}"
            for op in buffer:
                request = _plain_request(op)
                key = dict(op.key) if isinstance(op, Delete) else None
                self.result.failures.append(Failure(op.table, key, "Aborted", reason, request))
            if isinstance(exc, BatchAbortedError):
                return
            if isinstance(exc, Exception):
                raise BatchAbortedError(self.result, exc) from exc
            _attach(exc, self.result)
            return
        self.flush()
        if self.raise_on_unprocessed and not self.result.complete:
            raise UnprocessedItemsError(self.result)
