"""Query/Scan iterators follow every page; parallel Scan finds every item exactly once."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from boto3.dynamodb.conditions import Attr, Key
from dynabatch import BatchClient, ThrottledError

from tests.support.recorder import Recorder


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
