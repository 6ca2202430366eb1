"""The capacity budget paces requests; metrics report what every call did."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools import Metrics
from dynabatch import BatchClient, CapacityBudget
from dynabatch.capacity import TokenBucket

from tests.support.recorder import Recorder

from .conftest import FAST, KEYS


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def test_a_token_bucket_holds_the_long_run_rate() -> None:
    time = FakeTime()
    bucket = TokenBucket(100, clock=time.clock, sleep=time.sleep)

    for _ in range(50):
        bucket.acquire(25)  # 1,250 units at 100/s: the first 100 are the burst

    assert time.now == pytest.approx((1250 - 100 - 25) / 100, abs=0.3)


def test_corrections_from_consumed_capacity_change_the_pace() -> None:
    time = FakeTime()
    bucket = TokenBucket(10, clock=time.clock, sleep=time.sleep)
    bucket.acquire(10)
    bucket.adjust(-10)  # DynamoDB reported 0 consumed: the estimate is given back
    bucket.acquire(10)

    assert time.slept == 0


def test_a_write_budget_paces_a_bulk_load(ddb: Any, recorder: Recorder) -> None:
    time = FakeTime()
    budget = CapacityBudget(write_units_per_second=100, clock=time.clock, sleep=time.sleep)

    def real_consumed_capacity(operation: str, parsed: dict[str, Any]) -> None:
        # moto reports 1 unit per call; DynamoDB charges 1 unit per KB per item written.
        if operation == "BatchWriteItem":
            written = len(recorder.sent[-1].params["RequestItems"]["devices"])
            parsed["ConsumedCapacity"] = [{"TableName": "devices", "CapacityUnits": 2.0 * written}]

    recorder.alter = real_consumed_capacity
    with BatchClient(ddb, concurrency=1, retry=FAST, key_schemas=KEYS, capacity=budget) as batch:
        batch.put_items("devices", [{"deviceId": f"d-{i}", "blob": "x" * 1500} for i in range(500)])

    # 500 items of 2 KB are 1,000 write units: at 100/s that is about 9 s past the burst.
    assert time.slept == pytest.approx(9, abs=1.5)
    assert all(p["ReturnConsumedCapacity"] == "TOTAL" for p in recorder.calls("BatchWriteItem"))


def test_metrics_count_requests_items_retries_and_given_up(ddb: Any, recorder: Recorder) -> None:
    metrics = Metrics(namespace="Test", service="fleet")
    recorder.refuse = lambda table, item: item["deviceId"]["S"] == "d-7"
    with BatchClient(ddb, retry=FAST, metrics=metrics, key_schemas=KEYS) as batch:
        batch.put_items(
            "devices", [{"deviceId": f"d-{i}"} for i in range(60)], raise_on_unprocessed=False
        )

    values = {
        name: sum(m["Value"]) if isinstance(m["Value"], list) else m["Value"]
        for name, m in metrics.metric_set.items()
    }
    assert values["BatchWriteItemItems"] == 59
    assert values["BatchWriteItemItemsGivenUp"] == 1
    assert values["BatchWriteItemUnprocessedRetried"] == FAST.max_attempts - 1
    assert values["BatchWriteItemRequests"] == 3 + FAST.max_attempts - 1
    assert values["BatchWriteItemThrottles"] == FAST.max_attempts
    assert values["BatchWriteItemConsumedWCU"] > 0
    assert "BatchWriteItemLatency" in values
    metrics.clear_metrics()


def test_without_metrics_nothing_extra_is_asked_of_dynamodb(
    batch: BatchClient, recorder: Recorder
) -> None:
    batch.put_items("devices", [{"deviceId": "a"}])
    batch.get_items({"devices": [{"deviceId": "a"}]})

    assert "ReturnConsumedCapacity" not in recorder.calls("BatchWriteItem")[0]
    assert "ReturnConsumedCapacity" not in recorder.calls("BatchGetItem")[0]
