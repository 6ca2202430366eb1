"""BatchGetItem for any number of keys, across tables, streamed or collected."""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as quote_json
from types import TracebackType
from typing import Any

from .checks import prepare_key
from .codec import (
    batch_get_body,
    decode_item,
    decode_items,
    encode_item,
    load_body,
    wire_to_botocore,
)
from .constants import MAX_GET_KEYS, MAX_ITEM_BYTES, MAX_REQUEST_BYTES
from .context import BatchContext, TableUnavailable
from .engine import EngineEvent, Entry, Outcome, Scheduler
from .exceptions import BatchAbortedError, InvalidItemError, UnprocessedKeysError
from .expressions import build_projection
from .keys import encode_plain_key, string_partition_key, wire_identity
from .metrics import CallStats
from .retry import Deadline
from .serde import NumberMode, deserialize_item, deserializer, item_size, key_identity
from .types import Capacity, Failure, GetPage, GetResult, Item, RequestEvent
from .writer import request_events

__all__ = ["GetStream", "ReadOptions", "collect"]

#: One response's items of one table: their key identities and the items, side by side.
Page = tuple[str, list[Hashable], list[Item]]


def _same(value: Any) -> Any:
    return value


#: Per-table option: one value for every table, or a mapping from table name.
PerTable = Any


def _for_table(option: PerTable, table: str, default: Any) -> Any:
    if isinstance(option, Mapping):
        return option.get(table, default)
    return default if option is None else option


@dataclass(frozen=True)
class ReadOptions:
    """Per-call options of a batch read."""

    projection: PerTable = None
    consistent_read: PerTable = False
    return_consumed_capacity: bool = False
    numbers: NumberMode = "decimal"
    deadline_at: float | None = None
    on_request: Callable[[RequestEvent], None] | None = None


class GetStream:
    """An iterator of :class:`GetPage` as BatchGetItem responses arrive.

    After the iteration ends, :attr:`result` holds what is not in the pages: keys found
    missing, keys not answered (``failures``, with reasons), consumed capacity, request
    count. Items are not kept in :attr:`result` (``result.items`` stays empty) so that
    memory stays flat while streaming.

    Stopping early (``break``, an exception in the loop) leaves requests in flight until
    the stream is closed: use it as a context manager (``with batch.iter_get_items(...) as
    stream:``) or call :meth:`close`, which settles them and reports every key not
    answered as ``Aborted``. If pulling keys raises, the stream settles what is in flight
    and raises :class:`BatchAbortedError` carrying :attr:`result`.
    """

    def __init__(
        self,
        ctx: BatchContext,
        requests: Mapping[str, Iterable[Mapping[str, Any]]],
        options: ReadOptions,
    ) -> None:
        self._ctx = ctx
        self._requests = requests
        self._options = options
        self._want_capacity = bool(
            options.return_consumed_capacity or ctx.metrics is not None or ctx.capacity_read
        )
        self._on_request = options.on_request or ctx.on_request
        self._deserialize = deserializer(options.numbers)
        self._params: dict[str, dict[str, Any]] = {}
        self._key_names: dict[str, tuple[str, ...]] = {}
        self.result = GetResult()
        #: Identities of the keys asked for, in request order (duplicates dropped): a dict
        #: per table, so that it is also the set a duplicate is found in. A read's
        #: identity is one flat tuple, ``(table, *key_identity)``: one object a key.
        self.order: dict[str, dict[Hashable, None]] = {}
        #: Items that arrived while the stream was stopping: never yielded.
        self.found_late: list[tuple[Hashable, Item]] = []
        self._started = False
        self._deadline = Deadline(ctx.retry, options.deadline_at, ctx.clock)
        self._pages: Generator[Page, None, None] | None = None

    # -- building requests ---------------------------------------------------------

    def _table_params(self, table: str, names: tuple[str, ...]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        projection = _for_table(self._options.projection, table, None)
        if projection:
            expression, attribute_names = build_projection(projection, required=names)
            params["ProjectionExpression"] = expression
            params["ExpressionAttributeNames"] = attribute_names
        if _for_table(self._options.consistent_read, table, False):
            params["ConsistentRead"] = True
        return params

    def _fail(self, table: str, key: Any, code: str, reason: str) -> None:
        plain = dict(key) if isinstance(key, Mapping) else {"key": key}
        self.result.failures.append(Failure(table, plain, code, reason, plain, 0))

    def _entries(self) -> Iterator[Entry]:
        ctx = self._ctx
        lean = ctx.lean
        for table, keys in self._requests.items():
            order = self.order.setdefault(table, {})
            units = 1.0 if _for_table(self._options.consistent_read, table, False) else 0.5
            try:
                if ctx.known_key_names(table) is None and self._deadline.expired():
                    raise TableUnavailable(table, "DeadlineExceeded", "the call's deadline passed")
                names = self._key_names[table] = ctx.key_names(table)
            except TableUnavailable as error:
                for key in keys:
                    self._fail(table, key, error.code, error.message)
                continue
            types = ctx.key_types(table)
            self._params[table] = self._table_params(table, names)
            if lean:
                yield from self._lean_entries(table, keys, names, types, units, order)
                continue
            for key in keys:
                try:
                    wire = prepare_key(table, key, names, types)
                except InvalidItemError as error:
                    self._fail(table, key, error.code, str(error))
                    continue
                ident = (table, *key_identity(wire))
                if ident in order:
                    continue  # BatchGetItem rejects duplicate keys; one read answers both.
                order[ident] = None
                yield Entry(table, ident, wire, item_size(wire), units)

    def _lean_entries(
        self,
        table: str,
        keys: Iterable[Mapping[str, Any]],
        names: tuple[str, ...],
        types: Mapping[str, str] | None,
        units: float,
        order: dict[Hashable, None],
    ) -> Iterator[Entry]:
        # The lean wire needs only each key's text; its plain form is decoded from that
        # text in the rare case a key is reported (missing, failed).
        # Most tables: one string partition key. Its text is made here, in the loop, for
        # what encode_plain_key would give (the hypothesis test holds them equal).
        head = f'{{{quote_json(names[0])}:{{"S":'
        name_size = len(names[0].encode("utf-8"))
        for key in keys:
            single = string_partition_key(key, names, types)
            if single is not None:
                name, value, size = single
                ident: Hashable = (table, name, value)
                if ident in order:
                    continue
                order[ident] = None
                text = f"{head}{quote_json(value)}}}}}"
                yield Entry(table, ident, None, name_size + size, units, 0, 0, text)
                continue
            made = encode_plain_key(key, names, types)
            if made is None:
                try:
                    wire = prepare_key(table, key, names, types)
                except InvalidItemError as error:
                    self._fail(table, key, error.code, str(error))
                    continue
                ident = (table, *key_identity(wire))
                text, size = encode_item({name: key[name] for name in names})
            else:
                ident, text, size = (table, *made[0]), made[1], made[2]
            if ident in order:
                continue  # BatchGetItem rejects duplicate keys; one read answers both.
            order[ident] = None
            yield Entry(table, ident, None, size, units, text=text)

    # -- one request ---------------------------------------------------------------

    def _request(self, chunk: list[Entry]) -> dict[str, Any]:
        # Runs on a worker: the body is built (lean) or serialised by botocore here.
        if self._ctx.lean:
            return self._ctx.send_body(*self._lean_request(chunk))
        request_items: dict[str, dict[str, Any]] = {}
        for entry in chunk:
            table_request = request_items.get(entry.table)
            if table_request is None:
                table_request = request_items[entry.table] = {
                    "Keys": [],
                    **self._params[entry.table],
                }
            table_request["Keys"].append(entry.request)
        params: dict[str, Any] = {"RequestItems": request_items}
        if self._want_capacity:
            params["ReturnConsumedCapacity"] = "TOTAL"
        return self._ctx.call("BatchGetItem", params)

    def _lean_request(self, chunk: list[Entry]) -> tuple[str, str]:
        texts: dict[str, list[str]] = {}
        for entry in chunk:
            texts.setdefault(entry.table, []).append(entry.text or "")
        capacity = "TOTAL" if self._want_capacity else None
        return "BatchGetItem", batch_get_body(texts, self._params, capacity)

    def _send(self, chunk: list[Entry]) -> Outcome:
        return self._outcome(chunk, self._request(chunk))

    def _outcome(self, chunk: list[Entry], response: dict[str, Any]) -> Outcome:
        lean = self._ctx.lean
        # Binary arrives as base64 text on the lean wire; key identities use bytes.
        to_wire = wire_to_botocore if lean else _same
        unprocessed = []
        left = response.get("UnprocessedKeys")
        if left:
            by_ident = {entry.ident: entry for entry in chunk}
            for table, pending in left.items():
                names = self._key_names[table]
                for key in pending.get("Keys", ()):
                    unprocessed.append(by_ident[(table, *wire_identity(key, names))])
        found: list[Hashable] = []
        pages: list[Page] = []
        returned_bytes = 0
        deserialize = self._deserialize
        lean_decimal = lean and self._options.numbers == "decimal"
        if lean and not lean_decimal:
            deserialize = self._lean_decode
        for table, items in response.get("Responses", {}).items():
            names = self._key_names[table]
            if unprocessed:  # sizes matter only to tell a 16 MB cut from throttling
                returned_bytes += sum(item_size(to_wire(wire_item)) for wire_item in items)
            idents = _identities(table, items, names)
            found += idents
            decoded = decode_items(items) if lean_decimal else list(map(deserialize, items))
            pages.append((table, idents, decoded))
        missing = []
        if len(found) + len(unprocessed) != len(chunk):  # else every key is accounted for
            answered = {*found, *(entry.ident for entry in unprocessed)}
            missing = [entry for entry in chunk if entry.ident not in answered]
        # BatchGetItem also stops at 16 MB of response: then going on at once is right,
        # and backing off would only slow a healthy read down.
        size_cut = bool(unprocessed) and returned_bytes >= MAX_REQUEST_BYTES - MAX_ITEM_BYTES
        return Outcome(
            sent=chunk,
            unprocessed=unprocessed,
            payload=(pages, missing),
            consumed=response.get("ConsumedCapacity"),
            throttled=bool(unprocessed) and not size_cut,
            size_cut=size_cut,
        )

    def _lean_decode(self, wire_item: Mapping[str, Any]) -> Item:
        return self._deserialize(wire_to_botocore(wire_item))

    # -- the stream ----------------------------------------------------------------

    def pages_with_identity(
        self,
    ) -> Generator[Page, None, None]:
        """Like iterating the stream, each page with its items' key identities beside them:
        ``(table, identities, items)``."""
        if self._started:
            raise RuntimeError("a GetStream can be iterated once")
        self._started = True
        ctx = self._ctx
        stats = CallStats("BatchGetItem")
        deadline = self._deadline = Deadline(ctx.retry, self._options.deadline_at, ctx.clock)
        multiplexer = ctx.multiplexer()
        scheduler = Scheduler(
            self._send,
            executor=ctx.executor if multiplexer is None else None,
            concurrency=ctx.concurrency,
            max_count=MAX_GET_KEYS,
            max_bytes=ctx.max_request_bytes,
            policy=ctx.retry,
            deadline=deadline,
            stats=stats,
            bucket=ctx.capacity_read,
            sleep=ctx.sleep,
            multiplexer=(multiplexer, self._lean_request, self._outcome) if multiplexer else None,
        )
        # Keys given as lists are all reported at a deadline; a generator is not pulled on.
        given_whole = all(isinstance(keys, Sequence) for keys in self._requests.values())
        try:
            for event in scheduler.run(self._entries(), drain_on_deadline=given_whole):
                yield from self._settle(event, stats, notify=True)
        except GeneratorExit as error:
            self._abort(scheduler, error, stats)
            raise
        except Exception as error:
            self._abort(scheduler, error, stats)
            raise BatchAbortedError(self.result, error) from error
        except BaseException as error:
            self._abort(scheduler, error, stats)
            error.result = self.result  # type: ignore[attr-defined]
            raise
        finally:
            if multiplexer is not None:
                multiplexer.close()
            self.result.requests = stats.requests
            self.result.retries = stats.retried
            self.result.throttles = stats.throttles
            stats.emit(ctx.metrics)

    def _abort(self, scheduler: Scheduler, error: BaseException, stats: CallStats) -> None:
        for event in scheduler.abort(error):
            for _, idents, items in self._settle(event, stats, notify=False):
                # Not handed out (the stream stopped), but found: get_items reports them.
                self.found_late.extend(zip(idents, items, strict=True))

    def _settle(self, event: EngineEvent, stats: CallStats, notify: bool) -> Iterator[Page]:
        result = self.result
        for gone in event.given_up:
            key = _plain_key(gone.entry)
            result.failures.append(
                Failure(gone.entry.table, key, gone.code, gone.reason, key, gone.entry.attempts)
            )
        outcome = event.outcome
        if outcome is None or outcome.error is not None:
            return
        for entry in outcome.consumed or ():
            result.consumed_capacity.setdefault(entry["TableName"], Capacity()).add(entry)
        stats.add_capacity(outcome.consumed)
        if notify and self._on_request is not None and not outcome.not_sent:
            for request_event in request_events("BatchGetItem", outcome):
                self._on_request(request_event)
        if outcome.payload is None:  # throttled as a whole: nothing came back
            return
        pages, missing = outcome.payload
        for entry in missing:
            result.missing.setdefault(entry.table, []).append(_plain_key(entry))
        for page in pages:
            stats.items += len(page[2])
            yield page

    def __iter__(self) -> Iterator[GetPage]:
        pages = self._pages = self.pages_with_identity()
        try:
            for table, _, items in pages:
                yield GetPage(table, items)
        finally:
            pages.close()

    def close(self) -> None:
        """Stop early: settle the requests in flight, report the keys not answered."""
        if self._pages is not None:
            self._pages.close()

    def __enter__(self) -> GetStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _identities(table: str, items: list[dict[str, Any]], names: tuple[str, ...]) -> list[Hashable]:
    """Each response item's key identity (``wire_identity``), without a call per item
    for the usual one-string-key table."""
    if len(names) == 1:
        name = names[0]
        try:
            return [(table, name, item[name]["S"]) for item in items]
        except (KeyError, TypeError):
            pass  # a number or binary key, or a malformed item: the general way says which
    return [(table, *wire_identity(item, names)) for item in items]


def _plain_key(entry: Entry) -> Item:
    if entry.text is not None:
        return decode_item(load_body(entry.text))
    return deserialize_item(entry.request)


def collect(stream: GetStream, raise_on_unprocessed: bool) -> GetResult:
    """Drain ``stream`` into a :class:`GetResult` with items in request order.

    If the stream stops on a caller-side failure, the error's result holds the items
    found until then.
    """
    found: dict[Hashable, Item] = {}
    try:
        for _, idents, items in stream.pages_with_identity():
            found.update(zip(idents, items, strict=True))
    finally:
        found.update(stream.found_late)
        _fill(stream, found)
    result = stream.result
    if raise_on_unprocessed and not result.complete:
        raise UnprocessedKeysError(result)
    return result


def _fill(stream: GetStream, found: dict[Hashable, Item]) -> None:
    result = stream.result
    for table, order in stream.order.items():
        try:
            result.items[table] = [found[ident] for ident in order]
        except KeyError:  # some keys were missing or not read
            result.items[table] = [found[ident] for ident in order if ident in found]
        missing = result.missing.get(table)
        if missing:
            # Responses arrive in any order; report missing keys in request order too.
            position = {ident: n for n, ident in enumerate(order)}
            names = stream._key_names[table]
            missing.sort(
                key=lambda key: position[(table, *key_identity(prepare_key(table, key, names)))]
            )
