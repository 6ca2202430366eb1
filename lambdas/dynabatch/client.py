"""BatchClient: the one object callers hold. Every operation of the layer is a method."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.conditions import ConditionBase
from botocore.config import Config

from .capacity import CapacityBudget, TokenBucket
from .constants import MAX_REQUEST_BYTES
from .context import BatchContext, KeySchemas, wire_mode
from .expressions import Projection
from .metrics import MetricsSink
from .query import Page, build_read_request, iter_pages, parallel_scan
from .reader import GetStream, ReadOptions, collect
from .retry import RetryPolicy
from .serde import NumberMode
from .transactions import TransactGet, TransactWriteAction, transact_get, transact_write
from .types import Delete, GetResult, Item, Put, RequestEvent, Update, UpdateResult, WriteResult
from .updates import update_items
from .writer import BatchWriter, TableOps, WriteOptions, write

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["BatchClient", "make_client", "DEFAULT_CONCURRENCY"]

logger = logging.getLogger(__name__)

#: Requests in flight at once. DynamoDB scales far past this; the client's CPU and the
#: connection pool are the limits, and 16 keeps a 128 MB Lambda comfortable.
DEFAULT_CONCURRENCY = 16


def make_client(
    concurrency: int = DEFAULT_CONCURRENCY, *, endpoint_url: str | None = None, **config: Any
) -> DynamoDBClient:
    """A DynamoDB client whose connection pool fits ``concurrency`` parallel requests.

    The endpoint comes from ``endpoint_url`` or else botocore's own settings
    (``AWS_ENDPOINT_URL_DYNAMODB``, ``AWS_ENDPOINT_URL``, the profile); ``config`` adds or
    overrides ``botocore.config.Config`` options.

    botocore's own retries are off (``total_max_attempts=1``): the layer retries throttles
    and transient server errors itself, with backoff, jitter and its deadline, so
    ``RetryPolicy.max_attempts`` is the real number of sends. Pass ``retries=...`` to
    override; then botocore's attempts multiply the layer's.
    """
    options: dict[str, Any] = {
        "max_pool_connections": max(concurrency, 10),
        # botocore walks every attribute of every item to validate a request: 40% of the
        # client CPU of a bulk write. The layer builds every request itself, so it skips it.
        "parameter_validation": False,
        "retries": {"mode": "standard", "total_max_attempts": 1},
        "tcp_keepalive": True,
    }
    options.update(config)
    client: DynamoDBClient = boto3.session.Session().client(
        "dynamodb", endpoint_url=endpoint_url, config=Config(**options)
    )
    return client


class BatchClient:
    """Fast, bounded, lossless multi-item DynamoDB work.

    Parameters
    ----------
    client:
        A boto3 DynamoDB client. Default: :func:`make_client` with a pool of
        ``concurrency`` connections.
    concurrency:
        Requests in flight at most, per BatchClient (shared by concurrent callers).
    retry:
        Retry budget for unprocessed items and throttling; see :class:`RetryPolicy`.
    metrics:
        A Powertools ``Metrics`` (anything with ``add_metric``); ``None`` emits nothing.
    capacity:
        A :class:`CapacityBudget` to pace reads and writes; ``None`` does not pace.
    key_schemas:
        Table name to key attribute names, e.g. ``{"devices": ("deviceId",)}``, or to
        names and types, ``{"readings": {"deviceId": "S", "at": "N"}}`` (then key types
        are checked before sending too). Tables not named here are described once
        (DescribeTable) and cached.
    max_request_bytes:
        Size cap of one batch request (DynamoDB's 16 MB).
    on_request:
        Called on the calling thread after each batch request, once per table in it,
        with a :class:`RequestEvent` (table, items, duration, retries, throttled): for
        progress displays and custom metrics. An exception from it stops the call
        (:class:`BatchAbortedError`). Each call can pass its own.
    wire:
        ``"lean"`` (default, or ``DYNABATCH_WIRE``): BatchWriteItem, BatchGetItem, Query
        and Scan bodies are built and parsed by the layer and signed and sent with the
        client's credentials, endpoint, connection settings and events (``before-send``),
        skipping botocore's shape walks; ``"botocore"``: every request goes through the
        client's methods. Results, errors and failure codes are the same in both.

    The contract, for every batch entry point (lists, generators, :class:`BatchWriter`,
    :class:`GetStream`): every op ends done, or in ``result.failures`` with its table, key,
    code and reason (in the returned result, or in the error that carries it). Nothing is
    in flight once a call returned or raised. A failure on the caller's side (the source
    raising, a callback raising, ``KeyboardInterrupt``) stops pulling, settles what is in
    flight and raises :class:`BatchAbortedError` carrying the result (``KeyboardInterrupt``
    propagates as itself, the result on its ``result`` attribute).

    Example
    -------
    >>> batch = BatchClient(key_schemas={"devices": ("deviceId",)})  # doctest: +SKIP
    >>> batch.put_items("devices", [{"deviceId": "d-1", "name": "lamp"}])  # doctest: +SKIP
    >>> batch.get_items({"devices": [{"deviceId": "d-1"}]}).items["devices"]  # doctest: +SKIP
    [{'deviceId': 'd-1', 'name': 'lamp'}]
    """

    def __init__(
        self,
        client: DynamoDBClient | None = None,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry: RetryPolicy | None = None,
        metrics: MetricsSink | None = None,
        capacity: CapacityBudget | None = None,
        key_schemas: KeySchemas | None = None,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        on_request: Callable[[RequestEvent], None] | None = None,
        wire: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        # Typed loosely inside the layer: responses are handled as plain dicts.
        raw: Any = client if client is not None else make_client(concurrency)
        pool = getattr(getattr(raw.meta, "config", None), "max_pool_connections", None)
        if isinstance(pool, int) and pool < concurrency:
            logger.warning(
                "client connection pool (%s) is smaller than concurrency (%s); requests "
                "will wait for connections: build it with dynabatch.make_client(%s)",
                pool,
                concurrency,
                concurrency,
            )
        self._ctx = BatchContext(
            raw,
            concurrency=concurrency,
            retry=retry or RetryPolicy(),
            metrics=metrics,
            capacity_read=capacity.read if capacity else None,
            capacity_write=capacity.write if capacity else None,
            max_request_bytes=max_request_bytes,
            key_schemas=key_schemas,
            on_request=on_request,
            wire=wire_mode(wire),
        )

    # -- what the client was built with (query.py and transactions.py use these) ------

    @property
    def context(self) -> BatchContext:
        """The context the internals run on."""
        return self._ctx

    @property
    def client(self) -> Any:
        """The boto3 DynamoDB client."""
        return self._ctx.client

    @property
    def concurrency(self) -> int:
        """Requests in flight at most."""
        return self._ctx.concurrency

    @property
    def retry(self) -> RetryPolicy:
        """The retry budget."""
        return self._ctx.retry

    @property
    def metrics(self) -> MetricsSink | None:
        """Where call metrics go."""
        return self._ctx.metrics

    @property
    def capacity_read(self) -> TokenBucket | None:
        """The read side of the capacity budget."""
        return self._ctx.capacity_read

    @property
    def capacity_write(self) -> TokenBucket | None:
        """The write side of the capacity budget."""
        return self._ctx.capacity_write

    @property
    def max_request_bytes(self) -> int:
        """Size cap of one batch request."""
        return self._ctx.max_request_bytes

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The pool that runs batch requests; made on first use, reused after."""
        return self._ctx.executor

    def key_names(self, table: str) -> tuple[str, ...]:
        """The key attribute names of ``table``, from ``key_schemas`` or one DescribeTable."""
        return self._ctx.key_names(table)

    def known_key_names(self, table: str) -> tuple[str, ...] | None:
        """The key attribute names of ``table`` if already known, without asking DynamoDB."""
        return self._ctx.known_key_names(table)

    def close(self) -> None:
        """Stop the worker threads (the client itself stays usable elsewhere)."""
        self._ctx.close()

    def __enter__(self) -> BatchClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- BatchGetItem ----------------------------------------------------------------

    def get_items(
        self,
        requests: Mapping[str, Iterable[Mapping[str, Any]]],
        *,
        projection: Projection | Mapping[str, Projection] | None = None,
        consistent_read: bool | Mapping[str, bool] = False,
        return_consumed_capacity: bool = False,
        raise_on_unprocessed: bool = True,
        numbers: NumberMode = "decimal",
        deadline_at: float | None = None,
        on_request: Callable[[RequestEvent], None] | None = None,
    ) -> GetResult:
        """Read any number of items from one or more tables.

        Parameters
        ----------
        requests:
            Table name to keys (plain Python). Each key is reduced to the table's key
            attributes (from ``key_schemas`` or one DescribeTable) and checked; keys equal
            in value are read once.
        projection:
            Attributes to return, for all tables or per table. Reserved words are fine;
            key attributes are always included.
        consistent_read:
            Strongly consistent reads, for all tables or per table.
        return_consumed_capacity:
            Fill ``result.consumed_capacity`` per table.
        raise_on_unprocessed:
            Raise :class:`UnprocessedKeysError` (carrying the result) when keys are not
            answered; with ``False`` they are in ``result.failures``.
        numbers:
            ``"decimal"`` (default, exact), ``"int"`` (int where integral, else Decimal)
            or ``"float"`` (int where integral, else float; may round).
        deadline_at:
            A ``time.monotonic()`` instant (e.g. :func:`deadline_from_context`) after which
            no request starts; the earlier of it and ``RetryPolicy.deadline`` holds.
        on_request:
            Per-request callback for this call (see the class).

        Returns
        -------
        GetResult
            ``items`` per table in request order, ``missing`` keys, ``failures``.

        Raises
        ------
        UnprocessedKeysError
            Keys not answered (``raise_on_unprocessed``), carrying the result.
        BatchAbortedError
            Pulling the keys or the callback raised; carries the result.

        Example
        -------
        >>> result = batch.get_items({"devices": [{"deviceId": "d-1"}]}, projection=["name"])
        ... # doctest: +SKIP
        """
        stream = self.iter_get_items(
            requests,
            projection=projection,
            consistent_read=consistent_read,
            return_consumed_capacity=return_consumed_capacity,
            numbers=numbers,
            deadline_at=deadline_at,
            on_request=on_request,
        )
        return collect(stream, raise_on_unprocessed)

    def iter_get_items(
        self,
        requests: Mapping[str, Iterable[Mapping[str, Any]]],
        *,
        projection: Projection | Mapping[str, Projection] | None = None,
        consistent_read: bool | Mapping[str, bool] = False,
        return_consumed_capacity: bool = False,
        numbers: NumberMode = "decimal",
        deadline_at: float | None = None,
        on_request: Callable[[RequestEvent], None] | None = None,
    ) -> GetStream:
        """Like :meth:`get_items`, yielding a :class:`GetPage` per response as it arrives.

        Keys are pulled from ``requests`` lazily, so a generator of keys is read with
        bounded memory. After the loop, ``stream.result`` has ``missing``,
        ``failures`` and ``consumed_capacity``; nothing is raised for keys not answered.
        To stop early, close the stream (``with`` or :meth:`GetStream.close`).

        Example
        -------
        >>> with batch.iter_get_items({"devices": keys}) as stream:  # doctest: +SKIP
        ...     for page in stream:
        ...         cache.set_many(page.items)
        """
        options = ReadOptions(
            projection=projection,
            consistent_read=consistent_read,
            return_consumed_capacity=return_consumed_capacity,
            numbers=numbers,
            deadline_at=deadline_at,
            on_request=on_request,
        )
        return GetStream(self._ctx, requests, options)

    # -- BatchWriteItem --------------------------------------------------------------

    def write_items(
        self,
        ops: Iterable[Put | Delete],
        *,
        raise_on_unprocessed: bool = True,
        return_consumed_capacity: bool = False,
        deadline_at: float | None = None,
        on_request: Callable[[RequestEvent], None] | None = None,
    ) -> WriteResult:
        """Put and delete any number of items, across tables, in parallel batches.

        Duplicate keys: the last operation on a key wins (earlier ones are dropped from
        the call, counted in ``superseded``), and the layer never sends one key twice in
        a request, which DynamoDB would reject.

        Every op is checked before sending (size, key attributes, numbers, empty sets;
        see :func:`dynabatch.check_item`); a bad one is reported in ``result.failures``
        and never sent, and the others are written. An op DynamoDB still refuses
        (ValidationException) is isolated by halving its request; a missing or forbidden
        table fails that table's ops only. A generator is read lazily (memory stays flat).

        Parameters
        ----------
        ops:
            :class:`Put` and :class:`Delete` operations, a list or any iterable.
        raise_on_unprocessed:
            Raise :class:`UnprocessedItemsError` when an op was not written.
        return_consumed_capacity:
            Fill ``result.consumed_capacity`` per table.
        deadline_at:
            A ``time.monotonic()`` instant after which no request starts (see
            :meth:`get_items`). A list's ops not sent by then are reported as
            ``DeadlineExceeded``; a generator is not pulled past it (the first op not
            sent is reported, the rest stay in the generator).
        on_request:
            Per-request callback for this call (see the class).

        Raises
        ------
        UnprocessedItemsError
            Ops not written (unless ``raise_on_unprocessed=False``), carrying the result.
        BatchAbortedError
            The source, or the callback, raised; carries the result. ``KeyboardInterrupt``
            propagates as itself with the result on its ``result`` attribute.

        Example
        -------
        >>> batch.write_items([Put("devices", device), Delete("sessions", {"sessionId": "s"})])
        ... # doctest: +SKIP
        """
        options = WriteOptions(
            raise_on_unprocessed, return_consumed_capacity, deadline_at, on_request
        )
        return write(self._ctx, ops, options)

    def put_items(
        self,
        table: str,
        items: Iterable[Mapping[str, Any]],
        *,
        raise_on_unprocessed: bool = True,
        return_consumed_capacity: bool = False,
        deadline_at: float | None = None,
        on_request: Callable[[RequestEvent], None] | None = None,
    ) -> WriteResult:
        """Put ``items`` into ``table``; see :meth:`write_items`."""
        ops: Iterable[Put] = (
            TableOps(Put, table, items)
            if isinstance(items, Sequence)
            else (Put(table, item) for item in items)
        )
        options = WriteOptions(
            raise_on_unprocessed, return_consumed_capacity, deadline_at, on_request
        )
        return write(self._ctx, ops, options)

    def delete_items(
        self,
        table: str,
        keys: Iterable[Mapping[str, Any]],
        *,
        raise_on_unprocessed: bool = True,
        return_consumed_capacity: bool = False,
        deadline_at: float | None = None,
        on_request: Callable[[RequestEvent], None] | None = None,
    ) -> WriteResult:
        """Delete ``keys`` from ``table``; see :meth:`write_items`."""
        ops: Iterable[Delete] = (
            TableOps(Delete, table, keys)
            if isinstance(keys, Sequence)
            else (Delete(table, key) for key in keys)
        )
        options = WriteOptions(
            raise_on_unprocessed, return_consumed_capacity, deadline_at, on_request
        )
        return write(self._ctx, ops, options)

    def writer(
        self,
        buffer_size: int | None = None,
        *,
        raise_on_unprocessed: bool = True,
        return_consumed_capacity: bool = False,
        deadline_at: float | None = None,
        on_request: Callable[[RequestEvent], None] | None = None,
    ) -> BatchWriter:
        """A push-style :class:`BatchWriter` (``with batch.writer() as w: w.put(...)``)."""
        options = WriteOptions(
            raise_on_unprocessed, return_consumed_capacity, deadline_at, on_request
        )
        return BatchWriter(self._ctx, buffer_size, options)

    # -- Query and Scan --------------------------------------------------------------

    def query_pages(
        self,
        table: str,
        key_condition: ConditionBase | str,
        *,
        filter: ConditionBase | str | None = None,  # noqa: A002 - DynamoDB's own word
        projection: Projection | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        index_name: str | None = None,
        consistent_read: bool = False,
        scan_forward: bool | None = None,
        page_size: int | None = None,
        start_key: Mapping[str, Any] | None = None,
        return_consumed_capacity: bool = False,
        deadline_at: float | None = None,
    ) -> Iterator[Page]:
        """Query page by page, following every ``LastEvaluatedKey``.

        Parameters
        ----------
        table, key_condition:
            The table (or the table of ``index_name``) and a boto3 ``Key`` condition or a
            string ``KeyConditionExpression``.
        filter:
            A boto3 ``Attr`` condition or a string ``FilterExpression``. Pages it empties
            are followed too: only the last page ends the iteration.
        projection:
            Attributes to return; reserved words are fine.
        names, values:
            Placeholders of string expressions (values in plain Python).
        index_name, consistent_read, scan_forward:
            As DynamoDB's ``IndexName``, ``ConsistentRead``, ``ScanIndexForward``.
        page_size:
            Items evaluated per request (``Limit``).
        start_key:
            Resume after this key (a page's ``last_evaluated_key``).
        return_consumed_capacity:
            Fill ``page.consumed_capacity``.
        deadline_at:
            A ``time.monotonic()`` instant (see :func:`dynabatch.deadline_from_context`);
            with ``RetryPolicy.deadline``, the earlier holds. No page request starts after
            it and no backoff runs past it: :class:`DeadlineExceededError` is raised,
            carrying the ``start_key`` to resume from.

        Raises
        ------
        ThrottledError
            A page still throttled after ``RetryPolicy.max_attempts`` sends.
        DeadlineExceededError
            The deadline came before the last page.

        Example
        -------
        >>> from boto3.dynamodb.conditions import Key  # doctest: +SKIP
        >>> for page in batch.query_pages("sessions", Key("userId").eq("u-1")):  # doctest: +SKIP
        ...     print(len(page.items), page.last_evaluated_key)
        """
        request = build_read_request(
            table,
            key_condition=key_condition,
            filter=filter,
            projection=projection,
            names=names,
            values=values,
            index_name=index_name,
            consistent_read=consistent_read,
            scan_forward=scan_forward,
            page_size=page_size,
            start_key=start_key,
            return_consumed_capacity=return_consumed_capacity,
        )
        return iter_pages(self._ctx, "Query", request, deadline_at=deadline_at)

    def query(
        self,
        table: str,
        key_condition: ConditionBase | str,
        *,
        filter: ConditionBase | str | None = None,  # noqa: A002 - DynamoDB's own word
        projection: Projection | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        index_name: str | None = None,
        consistent_read: bool = False,
        scan_forward: bool | None = None,
        page_size: int | None = None,
        start_key: Mapping[str, Any] | None = None,
        deadline_at: float | None = None,
    ) -> Iterator[Item]:
        """Every item a Query matches, across all pages; see :meth:`query_pages`.

        Example
        -------
        >>> [s["sessionId"] for s in batch.query("sessions", Key("userId").eq("u-1"))]
        ... # doctest: +SKIP
        """
        pages = self.query_pages(
            table,
            key_condition,
            filter=filter,
            projection=projection,
            names=names,
            values=values,
            index_name=index_name,
            consistent_read=consistent_read,
            scan_forward=scan_forward,
            page_size=page_size,
            start_key=start_key,
            deadline_at=deadline_at,
        )
        return (item for page in pages for item in page.items)

    def scan_pages(
        self,
        table: str,
        *,
        filter: ConditionBase | str | None = None,  # noqa: A002 - DynamoDB's own word
        projection: Projection | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        index_name: str | None = None,
        consistent_read: bool = False,
        page_size: int | None = None,
        start_key: Mapping[str, Any] | None = None,
        return_consumed_capacity: bool = False,
        deadline_at: float | None = None,
    ) -> Iterator[Page]:
        """Scan page by page, following every ``LastEvaluatedKey``.

        A Scan with a filter still reads (and pays for) every item; each page holds at
        most 1 MB of read data, so following the pages is what finds everything. The
        keywords mean what they mean for :meth:`query_pages`, deadline included.

        Example
        -------
        >>> for page in batch.scan_pages("devices", page_size=500):  # doctest: +SKIP
        ...     print(page.scanned_count)
        """
        request = build_read_request(
            table,
            filter=filter,
            projection=projection,
            names=names,
            values=values,
            index_name=index_name,
            consistent_read=consistent_read,
            page_size=page_size,
            start_key=start_key,
            return_consumed_capacity=return_consumed_capacity,
        )
        return iter_pages(self._ctx, "Scan", request, deadline_at=deadline_at)

    def scan(
        self,
        table: str,
        *,
        filter: ConditionBase | str | None = None,  # noqa: A002 - DynamoDB's own word
        projection: Projection | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        index_name: str | None = None,
        consistent_read: bool = False,
        page_size: int | None = None,
        start_key: Mapping[str, Any] | None = None,
        deadline_at: float | None = None,
    ) -> Iterator[Item]:
        """Every item a Scan returns, across all pages; see :meth:`scan_pages`.

        Example
        -------
        >>> off = list(batch.scan("devices", filter=Attr("state").eq("off")))  # doctest: +SKIP
        """
        pages = self.scan_pages(
            table,
            filter=filter,
            projection=projection,
            names=names,
            values=values,
            index_name=index_name,
            consistent_read=consistent_read,
            page_size=page_size,
            start_key=start_key,
            deadline_at=deadline_at,
        )
        return (item for page in pages for item in page.items)

    def parallel_scan(
        self,
        table: str,
        segments: int,
        *,
        concurrency: int | None = None,
        buffer_pages: int | None = None,
        filter: ConditionBase | str | None = None,  # noqa: A002 - DynamoDB's own word
        projection: Projection | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        index_name: str | None = None,
        consistent_read: bool = False,
        page_size: int | None = None,
        deadline_at: float | None = None,
    ) -> Iterator[Item]:
        """Scan ``table`` in ``segments`` parallel segments (``TotalSegments``).

        Parameters
        ----------
        segments:
            ``TotalSegments``, 1 to 1,000,000.
        concurrency:
            Scans in flight at most (default: the client's ``concurrency``); that many
            threads work through the segments, whatever their number.
        buffer_pages:
            Pages waiting in memory at most (default: two per thread).
        filter, projection, names, values, index_name, consistent_read, page_size,
        deadline_at:
            As for :meth:`scan_pages`.

        Items arrive in no particular order. Closing the iterator early stops the Scans;
        the first error of any segment stops the others and is raised to the consumer.

        Example
        -------
        >>> for item in batch.parallel_scan("devices", segments=64, concurrency=8):
        ...     export(item)  # doctest: +SKIP
        """
        request = build_read_request(
            table,
            filter=filter,
            projection=projection,
            names=names,
            values=values,
            index_name=index_name,
            consistent_read=consistent_read,
            page_size=page_size,
        )
        workers = min(concurrency or self.concurrency, segments)
        return parallel_scan(
            self._ctx,
            request,
            segments,
            concurrency=concurrency or self.concurrency,
            buffer_pages=buffer_pages or 2 * max(1, workers),
            deadline_at=deadline_at,
        )

    # -- transactions ----------------------------------------------------------------

    def transact_write(
        self,
        actions: Sequence[TransactWriteAction],
        *,
        client_request_token: str | None = None,
        return_old_on_condition_failure: bool = True,
        deadline_at: float | None = None,
    ) -> dict[str, Any]:
        """All-or-nothing writes (TransactWriteItems).

        Parameters
        ----------
        actions:
            :class:`TransactPut`, :class:`TransactUpdate`, :class:`TransactDelete`,
            :class:`TransactCheck` (at most 100).
        client_request_token:
            Idempotency token: DynamoDB applies a repeated call with the same token once
            (within 10 minutes). Default: a fresh token per call, reused by the layer's
            own retries.
        return_old_on_condition_failure:
            Ask DynamoDB for the item as it stood when a condition failed; it lands in
            the error's ``reasons[i].item``.
        deadline_at:
            A ``time.monotonic()`` instant; with ``RetryPolicy.deadline`` the earlier
            holds. No attempt starts after it and no backoff runs past it.

        Checked before sending (``ValueError``, nothing sent): 1 to 100 actions, no item
        of a put over 400 KB (:class:`ItemTooLargeError`), and at most 4 MB in all
        (:class:`TransactionTooLargeError`).

        Raises
        ------
        TransactionCancelledError
            With one :class:`CancellationReason` per failed action: its index, table, key
            and code (``ConditionalCheckFailed``, ``TransactionConflict``, ...).
            Throttled transactions are retried first.
        ThrottledError
            Still throttled after the retry budget.
        DeadlineExceededError
            The deadline came before the transaction went through.

        Example
        -------
        >>> batch.transact_write([  # doctest: +SKIP
        ...     TransactUpdate("devices", {"deviceId": "d-1"}, "SET ownerId = :new",
        ...                    condition=Attr("ownerId").eq("u-1"), values={":new": "u-2"}),
        ... ])
        """
        return transact_write(
            self._ctx,
            actions,
            client_request_token,
            return_old_on_condition_failure,
            deadline_at=deadline_at,
        )

    def transact_get(
        self, gets: Sequence[TransactGet], *, deadline_at: float | None = None
    ) -> list[Item | None]:
        """Read up to 100 items as one consistent snapshot; ``None`` where an item is absent.

        ``deadline_at`` holds as for :meth:`transact_write`.

        Example
        -------
        >>> batch.transact_get([TransactGet("devices", {"deviceId": "d-1"})])  # doctest: +SKIP
        [{'deviceId': 'd-1', 'ownerId': 'u-1'}]
        """
        return transact_get(self._ctx, gets, deadline_at=deadline_at)

    # -- UpdateItem --------------------------------------------------------------------

    def update_items(
        self,
        updates: Iterable[Update],
        *,
        create_missing: bool = False,
        return_old_on_condition_failure: bool = False,
        return_consumed_capacity: bool = False,
        deadline_at: float | None = None,
        raise_on_failure: bool = True,
    ) -> UpdateResult:
        """Apply any number of :class:`Update` s, one UpdateItem each, in parallel.

        BatchWriteItem cannot update; this runs UpdateItem under the client's
        ``concurrency``, write capacity budget and retry policy (throttles retried with
        jittered backoff). Every update pulled ends applied (``result.updated``) or in
        ``result.failed`` with its table, key, code and message. The source is pulled
        lazily; updates of one key in one call may run in any order.

        Parameters
        ----------
        updates:
            A list or a generator of :class:`Update`.
        create_missing:
            ``False`` (default): an update never creates an item; a key with no item is
            reported as ``ItemNotFound``. ``True``: UpdateItem's own upsert.
        return_old_on_condition_failure:
            Put the item as it stood into ``FailedUpdate.old_item`` when a condition
            failed (``ReturnValuesOnConditionCheckFailure=ALL_OLD``).
        return_consumed_capacity:
            Fill ``result.consumed_capacity`` per table.
        deadline_at:
            A ``time.monotonic()`` instant (see :func:`dynabatch.deadline_from_context`);
            with ``RetryPolicy.deadline`` the earlier holds. No UpdateItem starts after it
            and no backoff runs past it; what is left is reported as ``DeadlineExceeded``.
        raise_on_failure:
            Raise :class:`UpdateItemsError` (carrying the result) when any update failed;
            with ``False`` the failures are only in the result.

        Returns
        -------
        UpdateResult
            ``updated``, ``failed``, ``requests``, ``throttles``, ``consumed_capacity``.

        Raises
        ------
        UpdateItemsError
            Some updates were not applied (see ``raise_on_failure``), or the source
            raised (its exception is ``__cause__``): pulling stops, what is in flight is
            settled, and ``error.result`` says what was applied and what was not.
            ``KeyboardInterrupt`` from the source propagates as itself, with the same
            result on its ``result`` attribute.

        Example
        -------
        >>> batch.update_items(  # doctest: +SKIP
        ...     Update("devices", {"deviceId": d}, set={"state": "maintenance"},
        ...            condition=Attr("state").ne("retired"))
        ...     for d in device_ids
        ... ).updated
        10000
        """
        return update_items(
            self._ctx,
            updates,
            create_missing=create_missing,
            return_old_on_condition_failure=return_old_on_condition_failure,
            return_consumed_capacity=return_consumed_capacity,
            deadline_at=deadline_at,
            raise_on_failure=raise_on_failure,
        )
