"""update_items: UpdateItem for any number of keys; every update applied or reported."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import dynabatch.retry
import pytest
from boto3.dynamodb.conditions import Attr
from dynabatch import (
    BatchClient,
    CapacityBudget,
    RetryPolicy,
    Update,
    UpdateItemsError,
)
from dynabatch.updates import update_items

from tests.support.recorder import Recorder

from .conftest import FAST, KEYS, stored


@pytest.fixture
def fleet(batch: BatchClient) -> BatchClient:
    batch.put_items(
        "devices",
        [{"deviceId": f"d-{i:03d}", "state": "on", "name": f"lamp {i}"} for i in range(40)],
    )
    return batch


def maintenance(ids: Iterator[int] | range) -> Iterator[Update]:
    return (
        Update("devices", {"deviceId": f"d-{i:03d}"}, set={"state": "maintenance"}) for i in ids
    )


def states(ddb: Any) -> dict[str, str]:
    return {d["deviceId"]: d["state"] for d in stored(ddb, "devices")}


def test_every_key_is_updated_other_attributes_kept(
    fleet: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    recorder.max_in_flight = 0
    recorder.delay = 0.002

    result = fleet.update_items(maintenance(range(40)))

    assert result.updated == 40 and result.complete and result.requests == 40
    assert set(states(ddb).values()) == {"maintenance"}
    assert {d["name"] for d in stored(ddb, "devices")} == {f"lamp {i}" for i in range(40)}
    assert 1 < recorder.max_in_flight <= fleet.concurrency


def test_the_whole_update_request_is_sent_as_built(fleet: BatchClient, recorder: Recorder) -> None:
    fleet.update_items(
        [
            Update(
                "devices",
                {"deviceId": "d-001", "name": "ignored: not a key attribute"},
                set={"state": "maintenance", "name": "lamp one"},
                remove=["notes"],
                condition=Attr("state").ne("retired"),
            )
        ],
        return_old_on_condition_failure=True,
    )

    assert recorder.calls("UpdateItem") == [
        {
            "TableName": "devices",
            "Key": {"deviceId": {"S": "d-001"}},
            "UpdateExpression": "SET #u0 = :u0, #u1 = :u1 REMOVE #u2",
            "ExpressionAttributeNames": {
                "#u0": "state",
                "#u1": "name",
                "#u2": "notes",
                "#n0": "state",
                "#n1": "deviceId",
            },
            "ExpressionAttributeValues": {
                ":u0": {"S": "maintenance"},
                ":u1": {"S": "lamp one"},
                ":v0": {"S": "retired"},
            },
            "ConditionExpression": "(#n0 <> :v0 AND attribute_exists(#n1))",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    ]


def test_a_raw_expression_twice_on_one_key_is_applied_twice(fleet: BatchClient, ddb: Any) -> None:
    bump = Update(
        "devices",
        {"deviceId": "d-007"},
        update_expression="ADD #c :one",
        names={"#c": "reboots"},
        values={":one": 1},
    )

    result = fleet.update_items([bump, bump, bump])

    assert result.updated == 3
    (device,) = [d for d in stored(ddb, "devices") if d["deviceId"] == "d-007"]
    assert device["reboots"] == Decimal(3)


def test_a_false_condition_is_reported_with_the_old_item_and_not_retried(
    fleet: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    fleet.update_items([Update("devices", {"deviceId": "d-003"}, set={"state": "retired"})])
    recorder.sent.clear()
    updates = [
        Update(
            "devices",
            {"deviceId": f"d-00{i}"},
            set={"state": "maintenance"},
            condition=Attr("state").eq("on"),
        )
        for i in range(5)
    ]

    result = fleet.update_items(
        updates, raise_on_failure=False, return_old_on_condition_failure=True
    )

    assert result.updated == 4 and not result.complete
    (failed,) = result.failed
    assert (failed.table, failed.key, failed.code) == (
        "devices",
        {"deviceId": "d-003"},
        "ConditionalCheckFailedException",
    )
    assert failed.old_item == {"deviceId": "d-003", "state": "retired", "name": "lamp 3"}
    assert len(recorder.calls("UpdateItem")) == 5
    assert states(ddb)["d-003"] == "retired"


def test_failures_raise_an_error_carrying_the_result(fleet: BatchClient) -> None:
    update = Update("devices", {"deviceId": "d-001"}, set={"x": 1}, condition=Attr("x").eq(2))

    with pytest.raises(UpdateItemsError) as caught:
        fleet.update_items([update, *maintenance(range(3))])

    assert caught.value.result.updated == 3
    assert [f.key for f in caught.value.result.failed] == [{"deviceId": "d-001"}]
    assert "1 ConditionalCheckFailedException" in str(caught.value)


def test_a_missing_item_is_not_created_unless_asked(fleet: BatchClient, ddb: Any) -> None:
    result = fleet.update_items(maintenance([1, 999]), raise_on_failure=False)

    assert result.updated == 1
    assert [(f.key, f.code) for f in result.failed] == [({"deviceId": "d-999"}, "ItemNotFound")]
    assert "d-999" not in states(ddb)

    fleet.update_items(maintenance([999]), create_missing=True)
    assert states(ddb)["d-999"] == "maintenance"


def test_throttles_are_retried_after_a_backoff(
    fleet: BatchClient, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The longest backoff jitter allows, and long enough that a busy machine cannot let
    # it pass before the scheduler gets round to waiting for it.
    monkeypatch.setattr(dynabatch.retry.random, "uniform", lambda low, high: high)
    fleet.context.retry = RetryPolicy(max_attempts=5, base_delay=0.05, max_delay=0.1)
    recorder.errors = [("UpdateItem", "ProvisionedThroughputExceededException")] * 2
    waits: list[int] = []  # requests sent when each backoff began

    def sleep(seconds: float) -> None:
        waits.append(len(recorder.calls("UpdateItem")))
        time.sleep(seconds)

    result = update_items(fleet.context, maintenance([1]), sleep=sleep)

    assert result.updated == 1 and result.throttles == 2 and result.requests == 3
    assert sorted(set(waits)) == [1, 2]


def test_throttled_past_the_budget_is_reported_not_lost(
    fleet: BatchClient, recorder: Recorder
) -> None:
    recorder.errors = [("UpdateItem", "ThrottlingException")] * 100

    result = fleet.update_items(maintenance([1]), raise_on_failure=False)

    (failed,) = result.failed
    assert failed.code == "RetriesExhausted" and failed.key == {"deviceId": "d-001"}
    assert len(recorder.calls("UpdateItem")) == FAST.max_attempts == result.requests


def test_no_update_is_sent_after_the_deadline(fleet: BatchClient, recorder: Recorder) -> None:
    result = fleet.update_items(
        maintenance(range(5)), deadline_at=time.monotonic() - 1, raise_on_failure=False
    )

    assert recorder.calls("UpdateItem") == []
    assert [f.code for f in result.failed] == ["DeadlineExceeded"] * 5


def test_a_backoff_never_runs_past_the_deadline(ddb: Any, recorder: Recorder) -> None:
    ddb.put_item(TableName="devices", Item={"deviceId": {"S": "d-001"}, "state": {"S": "on"}})
    recorder.errors = [("UpdateItem", "ThrottlingException")] * 100
    slow = RetryPolicy(max_attempts=10, base_delay=30.0, max_delay=30.0)
    slept: list[float] = []
    sends: list[float] = []
    ddb.meta.events.register(
        "before-parameter-build.dynamodb.UpdateItem", lambda **_: sends.append(time.monotonic())
    )
    with BatchClient(ddb, retry=slow, key_schemas=KEYS) as batch:
        deadline_at = time.monotonic() + 0.3

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            time.sleep(seconds)

        result = update_items(
            batch.context,
            maintenance([1]),
            deadline_at=deadline_at,
            raise_on_failure=False,
            sleep=sleep,
        )

    assert [f.code for f in result.failed] == ["DeadlineExceeded"]
    assert sends and all(at < deadline_at for at in sends)
    assert sum(slept) <= 0.3


def test_a_source_that_raises_stops_the_call_and_settles_what_was_pulled(
    fleet: BatchClient, recorder: Recorder
) -> None:
    recorder.delay = 0.005
    pulled = 0

    def source() -> Iterator[Update]:
        nonlocal pulled
        for update in maintenance(range(40)):
            if pulled == 25:
                raise RuntimeError("the device list is corrupt")
            pulled += 1
            yield update

    with pytest.raises(UpdateItemsError) as caught:
        fleet.update_items(source())

    assert isinstance(caught.value.__cause__, RuntimeError)
    assert recorder.in_flight == 0
    result = caught.value.result
    assert result.updated == 25 == len(recorder.calls("UpdateItem")) and not result.failed


def test_keyboard_interrupt_in_the_source_propagates_as_itself_with_the_result(
    fleet: BatchClient, recorder: Recorder
) -> None:
    def source() -> Iterator[Update]:
        yield from maintenance(range(3))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as caught:
        fleet.update_items(source())

    assert recorder.in_flight == 0
    assert caught.value.result.updated == 3  # type: ignore[attr-defined]


def test_invalid_updates_are_reported_and_the_rest_applied(
    fleet: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    updates = [
        Update("devices", {"name": "no key"}, set={"state": "x"}),
        Update("devices", {"deviceId": "d-002"}, set={"deviceId": "d-200"}),
        Update("devices", {"deviceId": "d-003"}, set={"state": float("nan")}),
        *maintenance([4]),
    ]

    result = fleet.update_items(updates, raise_on_failure=False)

    assert result.updated == 1 and len(recorder.calls("UpdateItem")) == 1
    assert [f.code for f in result.failed] == ["InvalidUpdate"] * 3
    assert "deviceId" in result.failed[0].message and "key attribute" in result.failed[1].message


def test_a_missing_table_fails_its_updates_only_after_one_describe(
    fleet: BatchClient, recorder: Recorder
) -> None:
    ghosts = [Update("ghost", {"id": str(i)}, set={"state": "x"}) for i in range(3)]

    result = fleet.update_items([*ghosts, *maintenance([1])], raise_on_failure=False)

    assert result.updated == 1
    assert {f.code for f in result.failed} == {"ResourceNotFoundException"}
    assert len(result.failed) == 3 and len(recorder.calls("DescribeTable")) == 1


def test_updates_are_paced_by_the_write_capacity_budget(ddb: Any, recorder: Recorder) -> None:
    now = [0.0]
    waited: list[float] = []

    def sleep(seconds: float) -> None:  # a fake clock: the test does not wait
        waited.append(seconds)
        now[0] += seconds

    budget = CapacityBudget(write_units_per_second=1, clock=lambda: now[0], sleep=sleep)
    with BatchClient(ddb, retry=FAST, key_schemas=KEYS, capacity=budget) as batch:
        result = batch.update_items(maintenance(range(4)), create_missing=True)

    assert result.updated == 4
    # One unit a second with a one-second burst: the later updates waited for units.
    assert sum(waited) >= 2
    assert all(p["ReturnConsumedCapacity"] == "TOTAL" for p in recorder.calls("UpdateItem"))


def test_an_update_needs_one_form() -> None:
    with pytest.raises(ValueError, match="one of them"):
        Update("devices", {"deviceId": "d"})
    with pytest.raises(ValueError, match="one of them"):
        Update("devices", {"deviceId": "d"}, set={"a": 1}, update_expression="SET a = :a")


def test_a_string_condition_keeps_its_placeholders_and_still_never_creates(
    fleet: BatchClient, ddb: Any
) -> None:
    updates = [
        Update(
            "devices",
            {"deviceId": device},
            set={"state": "maintenance"},
            condition="#s = :on",
            names={"#s": "state"},
            values={":on": "on"},
        )
        for device in ("d-001", "d-999")
    ]

    result = fleet.update_items(updates, raise_on_failure=False)

    assert result.updated == 1 and [f.code for f in result.failed] == ["ItemNotFound"]
    assert states(ddb)["d-001"] == "maintenance" and "d-999" not in states(ddb)
