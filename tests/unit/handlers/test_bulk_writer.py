"""The bulk writer: one batch of a distributed import, driven through its handler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from dynabatch import BatchClient
from fleet.bulkwriter import (
    MAP,
    BatchInput,
    InvalidRecordsError,
    run_batch,
    worker_share,
)
from fleet.observability import metrics
from fleet.runtime import BULK_RETRY, get_runtime, reset_runtime
from fleet.sessions import expiry_shard
from fleet.tables import DEVICES

from fleetcli.bulk.formats import read_items
from tests.support.handlers import TABLE_NAMES, FakeContext, throttle

DEVICES_TABLE = TABLE_NAMES["devices"]
SESSIONS_TABLE = TABLE_NAMES["sessions"]


def invoke(records: list[Any], fmt: str = "jsonl", **batch_input: Any) -> Any:
    """The handler as the map calls it: the event crosses JSON, as Lambda delivers it."""
    from fleet.handlers import bulk_writer

    event = {"Items": records, "BatchInput": {"format": fmt, "concurrency": 1, **batch_input}}
    return bulk_writer.handler(json.loads(json.dumps(event)), FakeContext())


def stored(batch: BatchClient, table: str) -> dict[str, dict[str, Any]]:
    key = "deviceId" if table == DEVICES_TABLE else "sessionId"
    return {i[key]: i for i in batch.scan(table, consistent_read=True)}


@pytest.fixture
def table_var(monkeypatch: pytest.MonkeyPatch, aws: Any) -> Iterator[Any]:
    monkeypatch.setenv("BULK_IMPORT_TABLE", "devices")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    yield monkeypatch
    # Disabled metrics are never flushed, so never cleared; Powertools shares one metric
    # set between all Metrics objects: leave nothing behind for other tests.
    metrics.clear_metrics()


def test_a_jsonl_batch_is_written_whole_and_nothing_handed_back(
    table_var: Any, batch: BatchClient
) -> None:
    # Given plain records and lossless DynamoDB JSON records, as `fleet export` writes both
    records = [
        {"deviceId": f"d-{n}", "ownerId": "u-1", "level": n, "ratio": 0.25} for n in range(60)
    ]
    records.append(
        {
            "Item": {
                "deviceId": {"S": "d-x"},
                "tags": {"SS": ["a", "b"]},
                "big": {"N": "12345678901234567890.5"},
            }
        }
    )

    # When one batch is written
    rejects = invoke(records)

    # Then every item is stored, numbers exact, sets as sets, and nothing comes back
    items = stored(batch, DEVICES_TABLE)
    assert rejects == []
    assert len(items) == 61
    assert items["d-7"]["level"] == 7 and items["d-7"]["ratio"] == Decimal("0.25")
    assert items["d-x"]["tags"] == {"a", "b"}
    assert items["d-x"]["big"] == Decimal("12345678901234567890.5")


def test_csv_rows_keep_their_types_and_sessions_get_their_expiry_shard(
    table_var: Any, batch: BatchClient
) -> None:
    table_var.setenv("BULK_IMPORT_TABLE", "sessions")
    # Given rows as the map's CSV reader hands them over: header -> text
    rows = [
        {"sessionId": "s-1", "userId": "u-1", "expiresAt:N": "1700000000", "note": ""},
        {"sessionId": "s-2", "userId": "u-2", "expiresAt:N": "1700000100", "note": "hi"},
    ]

    rejects = invoke(rows, fmt="csv")

    items = stored(batch, SESSIONS_TABLE)
    assert rejects == []
    assert items["s-1"]["expiresAt"] == 1700000000
    assert items["s-1"]["expiryShard"] == expiry_shard("s-1")
    assert "note" not in items["s-1"] and items["s-2"]["note"] == "hi"


def test_a_batch_with_invalid_records_writes_nothing_and_names_each(
    table_var: Any, batch: BatchClient
) -> None:
    records = [
        {"deviceId": "d-1"},
        {"ownerId": "u-1"},
        {"deviceId": ""},
        {"deviceId": "d-4"},
    ]

    with pytest.raises(InvalidRecordsError) as caught:
        invoke(records)

    assert caught.value.problems == [
        (1, "missing key attribute 'deviceId'"),
        (2, "attribute 'deviceId': a key attribute cannot be empty"),
    ]
    assert "2 invalid records" in str(caught.value)
    assert stored(batch, DEVICES_TABLE) == {}


def test_items_given_up_come_back_as_rejects_that_reimport_either_way(
    table_var: Any, batch: BatchClient, tmp_path: Path
) -> None:
    # Given DynamoDB refusing every write (throttling past the retry budget)
    records = [{"deviceId": f"d-{n}", "n": n, "tags": ["x"]} for n in range(30)]
    throttle(get_runtime().client, "BatchWriteItem")

    # When the batch runs, then every item comes back, in fleet import's rejects format
    rejects = invoke(records)
    assert len(rejects) == 30
    assert all(set(r) == {"Item"} for r in rejects)
    assert stored(batch, DEVICES_TABLE) == {}

    # And the rejects file imports locally as the same items...
    path = tmp_path / "rejects.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rejects))
    local = {r.item["deviceId"]: r.item for r in read_items(str(path), "jsonl", "devices")}
    assert local["d-3"] == {"deviceId": "d-3", "n": 3, "tags": ["x"]}
    # ...and distributed, once DynamoDB takes writes again
    reset_runtime()
    assert invoke(rejects) == []
    assert stored(batch, DEVICES_TABLE) == local


def test_each_worker_keeps_to_its_share_of_the_write_budget(
    table_var: Any, batch: BatchClient
) -> None:
    items = [{"deviceId": f"d-{n}"} for n in range(100)]
    runtime = get_runtime()

    def paced_seconds(concurrency: int) -> float:
        now = [0.0]

        def sleep(seconds: float) -> None:
            now[0] += seconds

        run_batch(
            runtime.client,
            DEVICES,
            DEVICES_TABLE,
            items,
            BatchInput("jsonl", write_units_per_second=100, concurrency=concurrency),
            retry=BULK_RETRY,
            clock=lambda: now[0],
            sleep=sleep,
        )
        return now[0]

    # One worker may use the whole 100 units/s: 100 one-unit puts fit its first second.
    # One of four shares 25 units/s: four 25-put requests, the first on the burst, then a
    # second's wait before each of the next two (the last one's debt falls on the next
    # batch): 2 s, where a worker that ignored its share would not wait at all.
    assert paced_seconds(1) < 0.5
    assert 1.5 <= paced_seconds(4) <= 3.5
    assert len(stored(batch, DEVICES_TABLE)) == 100


def test_the_batch_input_is_checked_and_shared_out() -> None:
    assert worker_share(4000, 10) == 400.0
    assert worker_share(None, 10) is None
    spec = BatchInput.from_event({"format": "CSV", "writeUnitsPerSecond": 900, "concurrency": 3})
    assert (spec.fmt, spec.worker_units) == ("csv", 300.0)
    assert BatchInput.from_event({"writeUnitsPerSecond": 0}).worker_units is None
    with pytest.raises(ValueError, match="format 'xml'"):
        BatchInput.from_event({"format": "xml"})
    with pytest.raises(ValueError, match="concurrency"):
        BatchInput.from_event({"concurrency": -1})
    assert MAP.max_input_bytes_per_batch == 256 * 1024  # Step Functions' payload cap
