"""BatchGetItem for any number of keys, across tables, streamed or collected."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .constants import MAX_GET_KEYS, MAX_ITEM_BYTES, MAX_REQUEST_BYTES
from .engine import Entry, Outcome, run_engine
from .exceptions import UnprocessedKeysError
from .expressions import build_projection
from .metrics import CallStats
from .serde import deserialize_item, item_size, key_identity, key_of, serialize_item
from .types import Capacity, ChunkError, GetPage, GetResult, Item

if TYPE_CHECKING:
    from .client import BatchClient

__all__ = ["GetStream"]

#: Per-table option: one value for every table, or a mapping from table name.
PerTable = Any


def _for_table(option: PerTable, table: str, default: Any) -> Any:
    if isinstance(option, Mapping):
        return option.get(table, default)
    return default if option is None else option


class GetStream:
    """An iterator of :class:`GetPage` as BatchGetItem responses arrive.

    After the iteration ends, :attr:`result` holds what is not in the pages: keys found
    missing, keys left unprocessed, consumed capacity, request count. Items are not kept in
    :attr:`result` (``result.items`` stays empty) so that memory stays flat while streaming.
    """

    def __init__(
        self,
        batch: BatchClient,
        requests: Mapping[str, Iterable[Mapping[str, Any]]],
        *,
        projection: PerTable = None,
        consistent_read: PerTable = False,
        return_consumed_capacity: bool = False,
    ) -> None:
        self._batch = batch
        self._requests = requests
        self._projection = projection
        self._consistent = consistent_read
        self._want_capacity = (
            return_consumed_capacity or batch.metrics is not None or batch.capacity_read
        )
        self._params: dict[str, dict[str, Any]] = {}
        self._key_names: dict[str, tuple[str, ...]] = {}
        self.result = GetResult()
        #: Identities of the keys asked for, in request order (duplicates dropped).
        self.order: dict[str, list[Hashable]] = {}
        self._started = False

    # -- building requests ---------------------------------------------------------

    def _table_params(self, table: str, names: tuple[str, ...]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        projection = _for_table(self._projection, table, None)
        if projection:
            expression, attribute_names = build_projection(projection, required=names)
            params["ProjectionExpression"] = expression
            params["ExpressionAttributeNames"] = attribute_names
        if _for_table(self._consistent, table, False):
            params["ConsistentRead"] = True
        return params

    def _entries(self) -> Iterator[Entry]:
        seen: set[Hashable] = set()
        for table, keys in self._requests.items():
            order = self.order.setdefault(table, [])
            units = 1.0 if _for_table(self._consistent, table, False) else 0.5
            for key in keys:
                wire = serialize_item(key)
                if table not in self._key_names:
                    self._key_names[table] = tuple(wire)
                    self._params[table] = self._table_params(table, tuple(wire))
                ident = (table, key_identity(wire))
                if ident in seen:
                    continue  # BatchGetItem rejects duplicate keys; one read answers both.
                seen.add(ident)
                order.append(ident)
                yield Entry(table, ident, wire, item_size(wire), units)

    # -- one request ---------------------------------------------------------------

    def _send(self, chunk: list[Entry]) -> Outcome:
        request_items: dict[str, dict[str, Any]] = {}
        for entry in chunk:
            table_request = request_items.get(entry.table)
            if table_request is None:
                table_request = request_items[entry.table] = {
                    "Keys": [],
                    **self._params[entry.table],
                }
            table_request["Keys"].append(entry.request)
        kwargs: dict[str, Any] = {"RequestItems": request_items}
        if self._want_capacity:
            kwargs["ReturnConsumedCapacity"] = "TOTAL"
        response = self._batch.client.batch_get_item(**kwargs)

        by_ident = {entry.ident: entry for entry in chunk}
        unprocessed = [
            by_ident[(table, key_identity(key))]
            for table, pending in response.get("UnprocessedKeys", {}).items()
            for key in pending.get("Keys", ())
        ]
        found: set[Hashable] = set()
        pages: list[tuple[str, list[tuple[Hashable, Item]]]] = []
        returned_bytes = 0
        for table, items in response.get("Responses", {}).items():
            names = self._key_names[table]
            page: list[tuple[Hashable, Item]] = []
            for wire_item in items:
                if unprocessed:  # sizes matter only to tell a 16 MB cut from throttling
                    returned_bytes += item_size(wire_item)
                ident = (table, key_identity(key_of(wire_item, names)))
                found.add(ident)
                page.append((ident, deserialize_item(wire_item)))
            pages.append((table, page))
        left = {entry.ident for entry in unprocessed}
        missing = [e for e in chunk if e.ident not in found and e.ident not in left]
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

    # -- the stream ----------------------------------------------------------------

    def pages_with_identity(self) -> Iterator[tuple[str, list[tuple[Hashable, Item]]]]:
        """Like iterating the stream, with each item's key identity beside it."""
        if self._started:
            raise RuntimeError("a GetStream can be iterated once")
        self._started = True
        batch = self._batch
        stats = CallStats("BatchGetItem")
        result = self.result
        try:
            for event in run_engine(
                self._entries(),
                self._send,
                executor=batch.executor,
                concurrency=batch.concurrency,
                max_count=MAX_GET_KEYS,
                max_bytes=batch.max_request_bytes,
                policy=batch.retry,
                stats=stats,
                bucket=batch.capacity_read,
            ):
                outcome = event.outcome
                if outcome is not None:
                    yield from self._settle(outcome, stats)
                for entry in event.given_up:
                    result.unprocessed.setdefault(entry.table, []).append(
                        deserialize_item(entry.request)
                    )
        finally:
            result.requests = stats.requests
            stats.emit(batch.metrics)

    def _settle(
        self, outcome: Outcome, stats: CallStats
    ) -> Iterator[tuple[str, list[tuple[Hashable, Item]]]]:
        result = self.result
        if outcome.error is not None:
            code, message = outcome.error
            result.errors.append(ChunkError(code, message, len(outcome.sent)))
            return
        for entry in outcome.consumed or ():
            result.consumed_capacity.setdefault(entry["TableName"], Capacity()).add(entry)
        stats.add_capacity(outcome.consumed)
        if outcome.payload is None:  # throttled as a whole: nothing came back
            return
        pages, missing = outcome.payload
        for entry in missing:
            result.missing.setdefault(entry.table, []).append(deserialize_item(entry.request))
        for table, page in pages:
            stats.items += len(page)
            yield table, page

    def __iter__(self) -> Iterator[GetPage]:
        for table, page in self.pages_with_identity():
            yield GetPage(table, [item for _, item in page])


def collect(stream: GetStream, raise_on_unprocessed: bool) -> GetResult:
    """Drain ``stream`` into a :class:`GetResult` with items in request order."""
    found: dict[Hashable, Item] = {}
    for _, page in stream.pages_with_identity():
        found.update(page)
    result = stream.result
    for table, order in stream.order.items():
        result.items[table] = [found[ident] for ident in order if ident in found]
        missing = result.missing.get(table)
        if missing:
            # Responses arrive in any order; report missing keys in request order too.
            position = {ident: n for n, ident in enumerate(order)}
            missing.sort(key=lambda key: position[(table, key_identity(serialize_item(key)))])
    if raise_on_unprocessed and not result.complete:
        raise UnprocessedKeysError(result)
    return result
