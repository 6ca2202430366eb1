"""Query and Scan that follow every LastEvaluatedKey, and a parallel Scan over segments.

Every page request runs under the call's :class:`~dynabatch.retry.Deadline`: no request
starts after it, and a throttled page is retried with jittered backoff only while the
backoff still ends before it.
"""

from __future__ import annotations

import base64
import itertools
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from boto3.dynamodb.conditions import ConditionBase, ConditionExpressionBuilder
from boto3.dynamodb.types import Binary
from botocore.exceptions import ClientError

from .codec import decode_item, decode_items
from .exceptions import BatchLayerError, ThrottledError
from .expressions import Projection, build_condition, build_projection, merge_expression_parts
from .metrics import CallStats
from .retry import Deadline, RetryPolicy, error_code, is_transient
from .serde import deserialize_item, serialize_item
from .types import Item, Key

if TYPE_CHECKING:
    from .context import BatchContext

__all__ = [
    "DeadlineExceededError",
    "Page",
    "iter_pages",
    "build_read_request",
    "parallel_scan",
    "send_with_retry",
]

T = TypeVar("T")

#: Largest ``TotalSegments`` DynamoDB accepts.
MAX_TOTAL_SEGMENTS = 1_000_000


class DeadlineExceededError(BatchLayerError, TimeoutError):
    """A Query/Scan page or a transaction was not sent because the deadline came.

    Raised instead of starting a request after the call's deadline, or instead of a
    backoff that would end after it.

    Attributes
    ----------
    operation:
        The DynamoDB operation that was not (re)sent.
    attempts:
        Sends of that request made before the deadline.
    start_key:
        For Query/Scan: where the next page would have started (pass it back as
        ``start_key`` to resume), ``None`` when no page was read yet.
    """

    def __init__(
        self, operation: str, attempts: int = 0, start_key: Mapping[str, Any] | None = None
    ) -> None:
        self.operation = operation
        self.attempts = attempts
        self.start_key = dict(start_key) if start_key is not None else None
        resume = f"; resume from start_key={self.start_key!r}" if self.start_key else ""
        super().__init__(
            f"{operation} not sent: the call's deadline passed after {attempts} attempt(s){resume}"
        )


@dataclass
class Page:
    """One Query/Scan response: its items and where the next page starts.

    ``last_evaluated_key`` is ``None`` on the last page; pass it back as ``start_key`` to
    resume. ``scanned_count`` counts items read before any filter (what capacity is paid
    for); ``consumed_capacity`` is the raw figure when it was asked for.
    """

    items: list[Item]
    last_evaluated_key: Key | None
    scanned_count: int
    consumed_capacity: float | None = None


def build_read_request(
    table: str,
    *,
    key_condition: ConditionBase | str | None = None,
    filter: ConditionBase | str | None = None,  # noqa: A002 - DynamoDB's own word
    projection: Projection | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    index_name: str | None = None,
    consistent_read: bool = False,
    scan_forward: bool | None = None,
    page_size: int | None = None,
    start_key: Mapping[str, Any] | None = None,
    segment: int | None = None,
    total_segments: int | None = None,
    return_consumed_capacity: bool = False,
) -> dict[str, Any]:
    """The client-API parameters of a Query (with ``key_condition``) or a Scan.

    String expressions take their placeholders from ``names`` / ``values`` (plain Python);
    boto3 conditions build their own, and the two are merged without collision.

    Example
    -------
    >>> from boto3.dynamodb.conditions import Key
    >>> build_read_request("readings", key_condition=Key("deviceId").eq("d-1"), page_size=10)
    ... # doctest: +NORMALIZE_WHITESPACE
    {'TableName': 'readings', 'KeyConditionExpression': '#n0 = :v0',
     'ExpressionAttributeNames': {'#n0': 'deviceId'},
     'ExpressionAttributeValues': {':v0': {'S': 'd-1'}}, 'Limit': 10}
    """
    request: dict[str, Any] = {"TableName": table}
    builder = ConditionExpressionBuilder()
    if key_condition is not None:
        merge_expression_parts(
            request,
            build_condition(
                key_condition,
                parameter="KeyConditionExpression",
                names=names,
                values=values,
                is_key_condition=True,
                builder=builder,
            ),
        )
    if filter is not None:
        merge_expression_parts(
            request,
            build_condition(
                filter, parameter="FilterExpression", names=names, values=values, builder=builder
            ),
        )
    if projection:
        # Its own placeholder prefix keeps clear of the caller's names and boto3's #n0.
        expression, projection_names = build_projection(projection, prefix="#proj")
        merge_expression_parts(
            request,
            {"ProjectionExpression": expression, "ExpressionAttributeNames": projection_names},
        )
    optional = {
        "IndexName": index_name,
        "ConsistentRead": consistent_read or None,
        "ScanIndexForward": scan_forward,
        "Limit": page_size,
        "Segment": segment,
        "TotalSegments": total_segments,
    }
    request.update({k: v for k, v in optional.items() if v is not None})
    if start_key:
        request["ExclusiveStartKey"] = serialize_item(start_key)
    if return_consumed_capacity:
        request["ReturnConsumedCapacity"] = "TOTAL"
    return request


def send_with_retry(
    operation: str,
    send: Callable[[], T],
    policy: RetryPolicy,
    deadline: Deadline,
    *,
    on_throttle: Callable[[], Any] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    start_key: Mapping[str, Any] | None = None,
) -> T:
    """Send one request, retrying throttling and transient server errors (500/503: botocore's
    own retries are off on the layer's client) within ``policy`` and before ``deadline``.

    Raises
    ------
    DeadlineExceededError
        Before a send that would start after the deadline, or instead of a backoff that
        would end after it (chained to the last throttle).
    ThrottledError
        When ``policy.max_attempts`` sends were all throttled.
    botocore.exceptions.ClientError
        Any other DynamoDB error, unchanged.
    """
    attempt = 0
    while True:
        if deadline.expired():
            raise DeadlineExceededError(operation, attempt, start_key)
        attempt += 1
        try:
            return send()
        except ClientError as error:
            if not is_transient(error):
                raise
            if on_throttle is not None:
                on_throttle()
            if attempt >= policy.max_attempts:
                raise ThrottledError(operation, error_code(error), attempt) from error
            pause = policy.backoff(attempt)
            left = deadline.remaining()
            if left is not None and pause >= left:
                # Sleeping would only end at or past the deadline, where nothing is sent.
                raise DeadlineExceededError(operation, attempt, start_key) from error
            sleep(pause)


def iter_pages(
    batch: BatchContext,
    operation: str,
    request: dict[str, Any],
    *,
    deadline_at: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Page]:
    """Send ``request`` as ``operation`` ("Query" or "Scan") page after page.

    Every ``LastEvaluatedKey`` is followed until DynamoDB returns none, also past pages
    that a filter emptied. The deadline (the earlier of ``deadline_at`` and the retry
    policy's, counted from this call) holds between pages too: a page that would start
    after it raises :class:`DeadlineExceededError` carrying the key to resume from.
    """
    deadline = Deadline(batch.retry, deadline_at)
    return _pages(batch, operation, dict(request), deadline, sleep)


def _pages(
    batch: BatchContext,
    operation: str,
    request: dict[str, Any],
    deadline: Deadline,
    sleep: Callable[[float], None],
) -> Iterator[Page]:
    if batch.metrics is not None:
        request.setdefault("ReturnConsumedCapacity", "TOTAL")
    stats = CallStats(operation)

    def count_throttle() -> None:
        stats.throttles += 1

    # On the lean wire a page is one body out and one json.loads back: a page holds up to
    # 1 MB of items, and botocore's parser walks every attribute of each.
    lean = batch.lean
    plain = decode_item if lean else deserialize_item
    if lean:
        send: Callable[[], dict[str, Any]] = lambda: batch.send_body(  # noqa: E731
            operation, request_body(request)
        )
    else:
        send = lambda: batch.call(operation, request)  # noqa: E731
    try:
        while True:
            stats.requests += 1
            start = request.get("ExclusiveStartKey")
            response = send_with_retry(
                operation,
                send,
                batch.retry,
                deadline,
                on_throttle=count_throttle,
                sleep=sleep,
                start_key=plain(start) if start else None,
            )
            wire_items = response.get("Items", ())
            items = decode_items(wire_items) if lean else [plain(item) for item in wire_items]
            stats.items += len(items)
            consumed = response.get("ConsumedCapacity")
            if consumed:
                stats.add_capacity([consumed])
            last = response.get("LastEvaluatedKey")
            yield Page(
                items=items,
                last_evaluated_key=plain(last) if last else None,
                scanned_count=int(response.get("ScannedCount", len(items))),
                consumed_capacity=float(consumed["CapacityUnits"]) if consumed else None,
            )
            # An empty page is not the end: a filter may have emptied it. Only the
            # absence of LastEvaluatedKey is.
            if not last:
                return
            request["ExclusiveStartKey"] = last
    finally:
        stats.emit(batch.metrics)


def request_body(request: Mapping[str, Any]) -> str:
    """A Query/Scan request (botocore's parameters, DynamoDB JSON values) as the JSON 1.0
    body botocore would send: binary values as base64 text."""
    return json.dumps(request, separators=(",", ":"), default=_binary_text)


def _binary_text(value: Any) -> str:
    if isinstance(value, Binary):
        value = value.value
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable in a request")


_DONE = object()


def parallel_scan(
    batch: BatchContext,
    request: dict[str, Any],
    segments: int,
    *,
    concurrency: int,
    buffer_pages: int,
    deadline_at: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Item]:
    """Scan ``segments`` segments with at most ``concurrency`` Scans in flight.

    ``min(concurrency, segments)`` threads take segments in turn, each scanning its
    segment to the end before taking the next, so any ``TotalSegments`` (up to 1,000,000)
    costs the same threads and memory: at most ``buffer_pages`` pages wait between the
    threads and the consumer. The threads are the call's own (not the client's pool), so
    a consumer may use the same BatchClient inside its loop. When the consumer stops
    (``close()``, an exception, the first error of a segment, the deadline), no new Scan
    starts and the call returns only once every Scan in flight has ended.
    """
    if not 1 <= segments <= MAX_TOTAL_SEGMENTS:
        raise ValueError(f"segments must be between 1 and {MAX_TOTAL_SEGMENTS}")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    deadline = Deadline(batch.retry, deadline_at)
    return _parallel(
        batch, request, segments, min(concurrency, segments), buffer_pages, deadline, sleep
    )


def _parallel(
    batch: BatchContext,
    request: dict[str, Any],
    segments: int,
    workers: int,
    buffer_pages: int,
    deadline: Deadline,
    sleep: Callable[[float], None],
) -> Iterator[Item]:
    pages: queue.Queue[Any] = queue.Queue(maxsize=max(1, buffer_pages))
    stop = threading.Event()
    next_segment = itertools.count()
    claim = threading.Lock()

    def put(value: Any) -> bool:
        while not stop.is_set():
            try:
                pages.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def scan_segments() -> None:
        try:
            while not stop.is_set():
                with claim:
                    segment = next(next_segment)
                if segment >= segments:
                    break
                segment_request = {**request, "Segment": segment, "TotalSegments": segments}
                for page in _pages(batch, "Scan", segment_request, deadline, sleep):
                    if not put(page.items) or stop.is_set():
                        return
            put(_DONE)
        except BaseException as error:  # handed to the consumer, which re-raises it
            put(error)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dynabatch-scan") as pool:
        for _ in range(workers):
            pool.submit(scan_segments)
        running = workers
        try:
            while running:
                value = pages.get()
                if value is _DONE:
                    running -= 1
                elif isinstance(value, BaseException):
                    raise value
                else:
                    yield from value
        finally:
            # Leaving the pool waits for the threads: no Scan is in flight after this.
            stop.set()
