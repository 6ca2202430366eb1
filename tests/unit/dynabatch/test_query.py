"""Query/Scan iterators follow every page; parallel Scan finds every item exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.conditions import Attr, Key
from dynabatch import BatchClient, DeadlineExceededError, RetryPolicy, ThrottledError
from dynabatch.query import build_read_request, iter_pages, parallel_scan

from tests.support.recorder import Recorder

from .conftest import KEYS

#: Backoff long enough that a test would notice sleeping it out.
SLOW = RetryPolicy(max_attempts=5, base_delay=30.0, max_delay=30.0)


@pytest.fixture
def readings(batch: BatchClient) -> BatchClient:
    batch.put_items(
        "readings",
        [
            {"deviceId": f"d-{d}", "at": t, "state": "on" if t % 2 else "off", "name": f"r{t}"}
            for d in range(3)
            for t in range(95)
        ],
    )
    batch.put_items(
        "devices",
        [{"deviceId": f"d-{i:04d}", "state": "on" if i % 3 else "off"} for i in range(700)],
    )
    return batch


def test_query_follows_every_page(readings: BatchClient, recorder: Recorder) -> None:
    pages = list(readings.query_pages("readings", Key("deviceId").eq("d-1"), page_size=10))

    assert len(pages) == 10
    assert [i["at"] for p in pages for i in p.items] == list(range(95))
    assert pages[-1].last_evaluated_key is None
    assert pages[0].last_evaluated_key == {"deviceId": "d-1", "at": Decimal(9)}
    assert len(recorder.calls("Query")) == 10


def test_query_resumes_from_a_start_key(readings: BatchClient) -> None:
    items = list(
        readings.query(
            "readings", Key("deviceId").eq("d-2"), start_key={"deviceId": "d-2", "at": 89}
        )
    )

    assert [i["at"] for i in items] == [90, 91, 92, 93, 94]


def test_query_with_filter_projection_and_reserved_words(
    readings: BatchClient, recorder: Recorder
) -> None:
    items = list(
        readings.query(
            "readings",
            Key("deviceId").eq("d-0") & Key("at").between(10, 19),
            filter=Attr("state").eq("on"),
            projection=["name", "state"],
            scan_forward=False,
        )
    )

    assert items == [{"name": f"r{t}", "state": "on"} for t in (19, 17, 15, 13, 11)]
    params = recorder.calls("Query")[-1]
    assert params["ScanIndexForward"] is False
    assert (
        "state" not in params["FilterExpression"] and "name" not in params["ProjectionExpression"]
    )


def test_string_expressions_take_plain_values(readings: BatchClient) -> None:
    items = list(
        readings.query(
            "readings",
            "#d = :d AND #at < :before",
            names={"#d": "deviceId", "#at": "at"},
            values={":d": "d-0", ":before": 3},
        )
    )

    assert [i["at"] for i in items] == [0, 1, 2]


def test_scan_with_a_filter_follows_pages_past_the_first(
    readings: BatchClient, recorder: Recorder
) -> None:
    found = list(readings.scan("devices", filter=Attr("state").eq("off"), page_size=50))

    assert len(found) == len([i for i in range(700) if i % 3 == 0])
    assert len(recorder.calls("Scan")) >= 14


def test_parallel_scan_returns_every_item_exactly_once(
    readings: BatchClient, recorder: Recorder
) -> None:
    counts = Counter(
        i["deviceId"] for i in readings.parallel_scan("devices", segments=4, page_size=40)
    )

    assert len(counts) == 700 and set(counts.values()) == {1}
    assert {p["Segment"] for p in recorder.calls("Scan")} == {0, 1, 2, 3}
    assert {p["TotalSegments"] for p in recorder.calls("Scan")} == {4}


def test_parallel_scan_can_be_abandoned_midway(readings: BatchClient) -> None:
    scan = readings.parallel_scan("devices", segments=3, page_size=10)
    first = [next(scan) for _ in range(5)]
    scan.close()  # the segment threads stop instead of blocking on a full buffer

    assert len(first) == 5


def test_a_throttled_page_is_retried(readings: BatchClient, recorder: Recorder) -> None:
    recorder.errors = [("Query", "ProvisionedThroughputExceededException")] * 2

    items = list(readings.query("readings", Key("deviceId").eq("d-0")))

    assert len(items) == 95


def test_a_page_refused_by_a_server_error_is_retried(
    readings: BatchClient, recorder: Recorder
) -> None:
    # botocore's own retries are off on the layer's client: the layer retries 500s itself.
    recorder.errors = [("Query", "InternalServerError")] * 2

    items = list(readings.query("readings", Key("deviceId").eq("d-0")))

    assert len(items) == 95
    assert len(recorder.calls("Query")) >= 3


def test_a_page_throttled_past_the_budget_raises_a_typed_error(
    readings: BatchClient, recorder: Recorder
) -> None:
    recorder.errors = [("Scan", "ThrottlingException")] * 50

    with pytest.raises(ThrottledError) as caught:
        list(readings.scan("devices"))

    assert (
        caught.value.attempts == readings.retry.max_attempts
        and caught.value.code == "ThrottlingException"
    )


def test_parallel_scan_passes_errors_to_the_consumer(
    readings: BatchClient, recorder: Recorder
) -> None:
    recorder.errors = [("Scan", "ResourceNotFoundException")]

    with pytest.raises(Exception, match="ResourceNotFoundException"):
        list(readings.parallel_scan("devices", segments=2))


def test_unknown_query_option_is_a_clear_error(readings: BatchClient) -> None:
    with pytest.raises(TypeError):
        list(readings.query("readings", Key("deviceId").eq("x"), no_such_option=1))


# -- whole payloads ---------------------------------------------------------------------


def test_query_sends_exactly_the_request_asked_for(
    readings: BatchClient, recorder: Recorder
) -> None:
    list(
        readings.query(
            "readings",
            Key("deviceId").eq("d-0") & Key("at").gte(90),
            filter=Attr("state").eq("on"),
            projection=["name", "at"],
            index_name=None,
            consistent_read=True,
            scan_forward=False,
            page_size=3,
            start_key={"deviceId": "d-0", "at": 94},
        )
    )

    assert recorder.calls("Query")[0] == {
        "TableName": "readings",
        "KeyConditionExpression": "(#n0 = :v0 AND #n1 >= :v1)",
        "FilterExpression": "#n2 = :v2",
        "ProjectionExpression": "#proj0, #proj1",
        "ExpressionAttributeNames": {
            "#n0": "deviceId",
            "#n1": "at",
            "#n2": "state",
            "#proj0": "name",
            "#proj1": "at",
        },
        "ExpressionAttributeValues": {
            ":v0": {"S": "d-0"},
            ":v1": {"N": "90"},
            ":v2": {"S": "on"},
        },
        "ConsistentRead": True,
        "ScanIndexForward": False,
        "Limit": 3,
        "ExclusiveStartKey": {"deviceId": {"S": "d-0"}, "at": {"N": "94"}},
    }


def test_scan_sends_exactly_the_request_asked_for(
    readings: BatchClient, recorder: Recorder
) -> None:
    list(
        readings.scan_pages(
            "devices",
            filter="#s = :off",
            names={"#s": "state"},
            values={":off": "off"},
            page_size=1000,
            return_consumed_capacity=True,
        )
    )

    assert recorder.calls("Scan") == [
        {
            "TableName": "devices",
            "FilterExpression": "#s = :off",
            "ExpressionAttributeNames": {"#s": "state"},
            "ExpressionAttributeValues": {":off": {"S": "off"}},
            "Limit": 1000,
            "ReturnConsumedCapacity": "TOTAL",
        }
    ]


# -- pages a filter emptied ---------------------------------------------------------------


def test_query_goes_on_past_pages_its_filter_emptied(
    readings: BatchClient, recorder: Recorder
) -> None:
    pages = list(
        readings.query_pages(
            "readings", Key("deviceId").eq("d-1"), filter=Attr("at").gte(60), page_size=10
        )
    )

    assert [len(p.items) for p in pages[:6]] == [0, 0, 0, 0, 0, 0]
    assert [i["at"] for p in pages for i in p.items] == list(range(60, 95))
    assert len(recorder.calls("Query")) == 10


def test_scan_goes_on_past_pages_its_filter_emptied(
    readings: BatchClient, recorder: Recorder
) -> None:
    pages = list(readings.scan_pages("readings", filter=Attr("at").eq(94), page_size=20))

    assert sorted(i["deviceId"] for p in pages for i in p.items) == ["d-0", "d-1", "d-2"]
    assert pages[0].items == [] and len(pages) == len(recorder.calls("Scan")) > 3


# -- retries and the deadline -------------------------------------------------------------


def test_a_throttled_page_waits_a_backoff_before_its_retry(
    readings: BatchClient, recorder: Recorder
) -> None:
    recorder.errors = [("Query", "ThrottlingException")] * 2
    waits: list[tuple[int, float]] = []  # (requests sent so far, seconds)
    request = build_read_request("readings", key_condition=Key("deviceId").eq("d-0"))

    pages = list(
        iter_pages(
            readings.context,
            "Query",
            request,
            sleep=lambda seconds: waits.append((len(recorder.calls("Query")), seconds)),
        )
    )

    assert sum(len(p.items) for p in pages) == 95 and len(recorder.calls("Query")) == 3
    assert [sent for sent, _ in waits] == [1, 2]
    # Full jitter: each wait is drawn from [0, base * 2**attempt], capped.
    assert all(0 <= s <= readings.retry.base_delay * 2**n for n, (_, s) in enumerate(waits, 1))


def test_no_page_request_starts_after_the_deadline(
    readings: BatchClient, recorder: Recorder
) -> None:
    with pytest.raises(DeadlineExceededError) as caught:
        list(
            readings.query("readings", Key("deviceId").eq("d-0"), deadline_at=time.monotonic() - 1)
        )

    assert recorder.calls("Query") == [] and caught.value.attempts == 0


def test_the_deadline_holds_between_pages_and_says_where_to_resume(
    readings: BatchClient, recorder: Recorder
) -> None:
    pages = readings.scan_pages("devices", page_size=100, deadline_at=time.monotonic() + 0.3)
    first = next(pages)
    time.sleep(0.35)  # the consumer is slow: the deadline passes between two pages

    with pytest.raises(DeadlineExceededError) as caught:
        next(pages)

    assert len(recorder.calls("Scan")) == 1
    assert caught.value.start_key == first.last_evaluated_key is not None


def test_a_backoff_that_would_end_past_the_deadline_is_not_slept(
    ddb: Any, recorder: Recorder
) -> None:
    recorder.errors = [("Query", "ThrottlingException")] * 3
    slept: list[float] = []
    with BatchClient(ddb, retry=SLOW, key_schemas=KEYS) as batch:
        request = build_read_request("readings", key_condition=Key("deviceId").eq("d-0"))
        deadline_at = time.monotonic() + 0.5
        with pytest.raises(DeadlineExceededError) as caught:
            list(
                iter_pages(
                    batch.context, "Query", request, deadline_at=deadline_at, sleep=slept.append
                )
            )

    # SLOW's backoff is up to 30 s; what was slept (if anything) ends before the deadline.
    assert sum(slept) < 0.5 and caught.value.attempts == len(recorder.calls("Query")) >= 1
    assert "ThrottlingException" in str(caught.value.__cause__)


def test_the_retry_policy_deadline_counts_from_the_call(ddb: Any, recorder: Recorder) -> None:
    recorder.errors = [("Scan", "ThrottlingException")] * 50
    policy = RetryPolicy(max_attempts=1000, base_delay=0.01, max_delay=0.02, deadline=0.2)
    sends: list[float] = []
    ddb.meta.events.register(
        "before-send.dynamodb.Scan", lambda **_: sends.append(time.monotonic())
    )
    with BatchClient(ddb, retry=policy, key_schemas=KEYS) as batch:
        items = batch.scan("devices")
        started = time.monotonic()  # just after the call began: its deadline is earlier
        with pytest.raises(DeadlineExceededError):
            list(items)

    # The deadline is checked just before each send: on a loaded machine the send that
    # passed the check may fire a little after it. Without the deadline the retries would
    # go on for seconds (1,000 attempts, 10-20 ms apart).
    assert len(sends) > 1 and all(at < started + 0.2 + 0.05 for at in sends)


# -- parallel scan --------------------------------------------------------------------------


def test_parallel_scan_keeps_at_most_concurrency_scans_in_flight_for_many_segments(
    readings: BatchClient, recorder: Recorder
) -> None:
    recorder.delay = 0.002
    recorder.max_in_flight = 0  # the fixture's own writes do not count
    threads_seen: set[str] = set()
    found = []
    for item in readings.parallel_scan("readings", segments=150, concurrency=4, page_size=50):
        threads_seen.update(t.name for t in threading.enumerate() if "dynabatch-scan" in t.name)
        found.append((item["deviceId"], item["at"]))

    assert len(found) == len(set(found)) == 3 * 95
    assert {p["Segment"] for p in recorder.calls("Scan")} == set(range(150))
    assert recorder.max_in_flight <= 4 and len(threads_seen) <= 4


def test_parallel_scan_refuses_more_segments_than_dynamodb_allows(readings: BatchClient) -> None:
    with pytest.raises(ValueError, match="1000000"):
        readings.parallel_scan("devices", segments=1_000_001)


def test_parallel_scan_starts_no_scan_after_the_deadline(
    readings: BatchClient, recorder: Recorder
) -> None:
    request = build_read_request("devices")
    scan = parallel_scan(
        readings.context,
        request,
        8,
        concurrency=2,
        buffer_pages=4,
        deadline_at=time.monotonic() - 1,
    )

    with pytest.raises(DeadlineExceededError):
        list(scan)

    assert recorder.calls("Scan") == []


def test_abandoning_a_parallel_scan_leaves_nothing_in_flight(
    readings: BatchClient, recorder: Recorder
) -> None:
    recorder.delay = 0.005
    scan = readings.parallel_scan("devices", segments=40, concurrency=3, page_size=5)
    next(scan)
    scan.close()
    sent = len(recorder.calls("Scan"))

    assert recorder.in_flight == 0
    assert len(recorder.calls("Scan")) == sent < 40


def test_binary_sets_and_numbers_come_back_as_stored_on_either_wire(batch: BatchClient) -> None:
    # A page's items and its filter values pass through JSON (binary as base64) on the
    # lean wire: what comes back must be what was put, bytes and sets included.
    stored = [
        {
            "deviceId": "d-bin",
            "at": t,
            "blob": bytes([t, 0, 255]),
            "tags": {"a", f"t{t}"},
            "ratio": Decimal("0.5") + t,
            "doc": {"raw": [b"\x00", None, True]},
        }
        for t in range(12)
    ]
    batch.put_items("readings", stored)
    pages = list(
        batch.query_pages(
            "readings",
            Key("deviceId").eq("d-bin"),
            filter=Attr("blob").ne(bytes([3, 0, 255])),
            page_size=5,
        )
    )
    items = [item for page in pages for item in page.items]
    assert items == [item for item in stored if item["at"] != 3]
    assert pages[0].last_evaluated_key == {"deviceId": "d-bin", "at": Decimal(4)}
