"""Query and Scan that follow every LastEvaluatedKey, and a parallel Scan over segments."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import ConditionBase, ConditionExpressionBuilder

from .expressions import Projection, build_condition, build_projection, merge_expression_parts
from .metrics import CallStats
from .retry import call_with_retry
from .serde import deserialize_item, serialize_item
from .types import Item, Key

if TYPE_CHECKING:
    from .client import BatchClient

__all__ = ["Page", "iter_pages", "build_read_request", "parallel_scan"]


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


def iter_pages(batch: BatchClient, operation: str, request: dict[str, Any]) -> Iterator[Page]:
    """Send ``request`` as ``operation`` ("Query" or "Scan") page after page.

    Every ``LastEvaluatedKey`` is followed until DynamoDB returns none; a throttled page is
    retried with backoff under the client's retry policy.
    """
    call = batch.client.query if operation == "Query" else batch.client.scan
    request = dict(request)
    if batch.metrics is not None:
        request.setdefault("ReturnConsumedCapacity", "TOTAL")
    stats = CallStats(operation)

    def count_throttle() -> None:
        stats.throttles += 1

    try:
        while True:
            stats.requests += 1
            response = call_with_retry(
                operation, lambda: call(**request), batch.retry, on_throttle=count_throttle
            )
            items = [deserialize_item(item) for item in response.get("Items", ())]
            stats.items += len(items)
            consumed = response.get("ConsumedCapacity")
            if consumed:
                stats.add_capacity([consumed])
            last = response.get("LastEvaluatedKey")
            yield Page(
                items=items,
                last_evaluated_key=deserialize_item(last) if last else None,
                scanned_count=int(response.get("ScannedCount", len(items))),
                consumed_capacity=float(consumed["CapacityUnits"]) if consumed else None,
            )
            if not last:
                return
            request["ExclusiveStartKey"] = last
    finally:
        stats.emit(batch.metrics)


_DONE = object()


def parallel_scan(
    batch: BatchClient, request: dict[str, Any], segments: int, buffer_pages: int
) -> Iterator[Item]:
    """Scan ``segments`` segments at once, yielding items as pages arrive.

    At most ``buffer_pages`` pages wait between the scanning threads and the consumer,
    so memory stays flat for any table size. The threads are the call's own (not the
    client's pool), so a consumer may use the same BatchClient inside its loop.
    """
    if segments < 1:
        raise ValueError("segments must be at least 1")
    pages: queue.Queue[Any] = queue.Queue(maxsize=max(1, buffer_pages))
    stop = threading.Event()

    def put(value: Any) -> bool:
        while not stop.is_set():
            try:
                pages.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def scan_segment(segment: int) -> None:
        try:
            segment_request = {**request, "Segment": segment, "TotalSegments": segments}
            for page in iter_pages(batch, "Scan", segment_request):
                if not put(page.items):
                    return
            put(_DONE)
        except BaseException as error:  # handed to the consumer, which re-raises it
            put(error)

    with ThreadPoolExecutor(max_workers=segments, thread_name_prefix="dynabatch-scan") as pool:
        for segment in range(segments):
            pool.submit(scan_segment, segment)
        running = segments
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
            stop.set()
