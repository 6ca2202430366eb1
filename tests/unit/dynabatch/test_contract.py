"""The contract, promise by promise, against moto (and the in-memory fake where time matters).

Each test names the promise it holds; each fails on the code before the contract.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from dynabatch import (
    MAX_ITEM_BYTES,
    MAX_WRITE_ITEMS,
    BatchAbortedError,
    BatchClient,
    CapacityBudget,
    InvalidItemError,
    Put,
    RequestEvent,
    RetryPolicy,
    UnprocessedItemsError,
    UnprocessedKeysError,
    check_item,
    check_key,
    make_client,
)
from dynabatch.engine import max_sends_per_op

from tests.support.fake_dynamodb import FakeDynamoDB
from tests.support.recorder import Recorder

from .conftest import FAST, KEYS, stored


def devices(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"deviceId": f"d-{i:05d}", "name": f"lamp {i}"} for i in range(start, start + n)]


def sent_keys(recorder: Recorder, table: str = "devices") -> list[str]:
    return [
        (r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"])["deviceId"]["S"]
        for params in recorder.calls("BatchWriteItem")
        for r in params["RequestItems"].get(table, ())
    ]


# -- point 1: a bad op in a BatchWriter --------------------------------------------------


def test_a_bad_op_in_a_batch_writer_never_takes_buffered_good_ops_with_it(
    batch: BatchClient, ddb: Any
) -> None:
    items = devices(250)
    items[120] = {"deviceId": "huge", "blob": "x" * MAX_ITEM_BYTES}

    def write_all() -> None:
        with batch.writer(buffer_size=100) as writer:
            for item in items:
                writer.put("devices", item)

    with pytest.raises(UnprocessedItemsError) as caught:
        write_all()

    result = caught.value.result
    assert result.written == 249 and len(stored(ddb, "devices")) == 249
    (failure,) = result.failures
    assert (failure.table, failure.key, failure.code) == (
        "devices",
        {"deviceId": "huge"},
        "ItemTooLarge",
    )


# -- point 2: caller-side failures -------------------------------------------------------


def failing_source(n: int, error: BaseException, pulled: list[int]) -> Iterator[Put]:
    for item in devices(n):
        pulled.append(1)
        yield Put("devices", item)
    raise error


def test_a_source_that_raises_midway_stops_settles_and_carries_the_result(
    ddb: Any, recorder: Recorder
) -> None:
    recorder.delay = 0.002  # requests are in flight when the source raises
    pulled: list[int] = []
    with BatchClient(ddb, concurrency=4, retry=FAST, key_schemas=KEYS) as batch:
        with pytest.raises(BatchAbortedError) as caught:
            batch.write_items(failing_source(700, ValueError("bad line 701"), pulled))

        assert recorder.in_flight == 0
    result = caught.value.result
    assert isinstance(caught.value.__cause__, ValueError)
    # Every op pulled is written or reported, and what was reported is not stored.
    assert result.written + len(result.failures) == len(pulled) == 700
    assert len(stored(ddb, "devices")) == result.written
    assert {f.code for f in result.failures} <= {"Aborted"}


def test_keyboard_interrupt_propagates_as_itself_with_the_result(
    ddb: Any, recorder: Recorder
) -> None:
    pulled: list[int] = []
    with BatchClient(ddb, concurrency=4, retry=FAST, key_schemas=KEYS) as batch:
        with pytest.raises(KeyboardInterrupt) as caught:
            batch.write_items(failing_source(300, KeyboardInterrupt(), pulled))
        assert recorder.in_flight == 0

    result = caught.value.result  # type: ignore[attr-defined]
    assert result.written + len(result.failures) == len(pulled)
    assert len(stored(ddb, "devices")) == result.written


def test_an_exception_in_a_writer_block_reports_the_buffer_as_never_sent(
    batch: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    def write_then_fail() -> None:
        with batch.writer(buffer_size=100) as writer:
            for item in devices(130):
                writer.put("devices", item)
            raise RuntimeError("the caller broke")

    with pytest.raises(BatchAbortedError) as caught:
        write_then_fail()

    result = caught.value.result
    assert result.written == 100 and len(stored(ddb, "devices")) == 100
    assert len(result.failures) == 30
    assert all(f.code == "Aborted" and f.attempts == 0 for f in result.failures)


def test_closing_a_get_stream_early_settles_and_reports_every_key(
    batch: BatchClient, recorder: Recorder
) -> None:
    batch.put_items("devices", devices(500))
    keys = [{"deviceId": f"d-{i:05d}"} for i in range(1000)]
    recorder.delay = 0.002

    with batch.iter_get_items({"devices": keys}) as stream:
        for _page in stream:
            break

    assert recorder.in_flight == 0
    result = stream.result
    failed = {f.key["deviceId"] for f in result.failures if f.key}
    assert all(f.code == "Aborted" for f in result.failures)
    assert len(failed) == len(result.failures)


# -- point 3: the deadline and botocore's own retries ----------------------------------


def test_no_request_starts_after_the_deadline_and_waits_end_by_it() -> None:
    fake = FakeDynamoDB({"devices": {"deviceId": "S"}}, real_latency=0.0)
    fake.faults.unprocessed = 1.0
    policy = RetryPolicy(max_attempts=1000, base_delay=0.01, max_delay=0.2)
    with BatchClient(fake.client, concurrency=1, retry=policy, key_schemas=KEYS) as batch:
        batch.context.clock, batch.context.sleep = fake.clock, fake.clock.sleep
        deadline_at = fake.clock() + 0.3
        result = batch.put_items(
            "devices", devices(60), deadline_at=deadline_at, raise_on_unprocessed=False
        )

    assert len(fake.requests) > 3
    assert max(r.started for r in fake.requests) <= deadline_at
    assert fake.clock() <= deadline_at + fake.latency
    assert len(result.failures) == 60
    assert {f.code for f in result.failures} == {"DeadlineExceeded"}


def _throttling_http(request: Any, **_: Any) -> AWSResponse:
    body = b'{"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "x"}'

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    return AWSResponse(request.url, 400, {"x-amzn-RequestId": "r"}, Raw())


@pytest.mark.parametrize("max_attempts", [1, 3])
def test_max_attempts_is_the_real_number_of_sends_with_make_client(max_attempts: int) -> None:
    client = make_client(
        2,
        endpoint_url="http://dynamodb.invalid",
        region_name="eu-west-1",
    )
    sends: list[int] = []

    def count(request: Any, **kwargs: Any) -> AWSResponse:
        sends.append(1)
        return _throttling_http(request, **kwargs)

    client.meta.events.register("before-send.dynamodb.BatchWriteItem", count)
    policy = RetryPolicy(max_attempts=max_attempts, base_delay=0.0, max_delay=0.0)
    with BatchClient(client, concurrency=2, retry=policy, key_schemas=KEYS) as batch:
        result = batch.put_items("devices", devices(1), raise_on_unprocessed=False)

    assert len(sends) == max_attempts
    assert result.failures[0].code == "RetriesExhausted"


# -- point 5: poison isolation ---------------------------------------------------------


def test_an_op_dynamodb_refuses_is_isolated_the_rest_written(
    batch: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    recorder.poison = lambda table, wire: wire.get("deviceId") == {"S": "d-00042"}

    result = batch.put_items("devices", devices(100), raise_on_unprocessed=False)

    (failure,) = result.failures
    assert failure.key == {"deviceId": "d-00042"} and failure.code == "ValidationException"
    assert failure.reason == "One or more parameter values were invalid"
    assert result.written == 99 and len(stored(ddb, "devices")) == 99
    sends = sent_keys(recorder)
    assert max(sends.count(k) for k in set(sends)) <= max_sends_per_op(FAST, MAX_WRITE_ITEMS)
    # Halving: the poisoned op travels in a handful of requests, not one per op.
    assert sends.count("d-00042") <= 1 + 5


# -- point 6: per-table isolation ------------------------------------------------------


def test_a_missing_table_fails_only_its_own_ops(ddb: Any, recorder: Recorder) -> None:
    schemas = {**KEYS, "gone": ("deviceId",)}
    with BatchClient(ddb, retry=FAST, key_schemas=schemas) as batch:
        ops = [Put("devices", d) for d in devices(10)] + [Put("gone", d) for d in devices(5)]
        with pytest.raises(UnprocessedItemsError) as caught:
            batch.write_items(ops)
        with pytest.raises(UnprocessedKeysError) as read:
            batch.get_items({"devices": devices(10), "gone": devices(3)})

    result = caught.value.result
    assert result.written == 10 and len(stored(ddb, "devices")) == 10
    assert {(f.table, f.code) for f in result.failures} == {("gone", "ResourceNotFoundException")}
    assert "retry budget" not in str(caught.value)
    assert "ResourceNotFoundException (table 'gone')" in str(caught.value)
    assert len(read.value.result.items["devices"]) == 10
    assert {f.table for f in read.value.result.failures} == {"gone"}


# -- point 7: keys reduced to the key attributes and de-duplicated by value -------------


def test_get_items_sends_only_key_attributes_once_per_key(
    batch: BatchClient, recorder: Recorder
) -> None:
    batch.put_items("devices", devices(2))
    keys = [
        {"deviceId": "d-00000"},
        {"deviceId": "d-00000", "name": "lamp 0"},
        {"deviceId": "d-00001", "name": "anything"},
        {"name": "no key at all"},
    ]

    result = batch.get_items({"devices": keys}, raise_on_unprocessed=False)

    assert recorder.calls("BatchGetItem") == [
        {
            "RequestItems": {
                "devices": {
                    "Keys": [{"deviceId": {"S": "d-00000"}}, {"deviceId": {"S": "d-00001"}}]
                }
            }
        }
    ]
    assert [i["deviceId"] for i in result.items["devices"]] == ["d-00000", "d-00001"]
    (failure,) = result.failures
    assert failure.code == "InvalidItem" and "deviceId" in failure.reason


# -- point 8: number errors name what they are about ------------------------------------


def test_a_number_dynamodb_cannot_hold_is_reported_with_table_key_and_attribute(
    batch: BatchClient, ddb: Any
) -> None:
    items = [
        {"deviceId": "a", "reading": Decimal("1." + "1" * 38)},
        {"deviceId": "b", "big": 10**38},
        {"deviceId": "c", "big": 1e38},
    ]

    result = batch.put_items("devices", items, raise_on_unprocessed=False)

    (failure,) = result.failures
    assert failure.key == {"deviceId": "a"}
    assert "'devices'" in failure.reason and "'reading'" in failure.reason
    assert "39 significant digits" in failure.reason
    held = {i["deviceId"]: i["big"] for i in stored(ddb, "devices")}
    assert held == {"b": Decimal("1E+38"), "c": Decimal("1E+38")}


@pytest.mark.parametrize(
    ("item", "attribute", "problem"),
    [
        ({"deviceId": ""}, "deviceId", "cannot be empty"),
        ({"deviceId": 7}, "deviceId", "must be a string"),
        ({"name": "x"}, "deviceId", "missing"),
        ({"deviceId": "a", "tags": set()}, "tags", "empty set"),
        ({"deviceId": "a", "m": {"l": [1, float("inf")]}}, "m.l[1]", "NaN and Infinity"),
        ({"deviceId": "a", "v": Decimal("1E-131")}, "v", "range"),
        ({"deviceId": "x" * 2049}, "deviceId", "at most 2048 bytes"),
    ],
)
def test_check_item_names_table_key_attribute_and_problem(
    item: dict[str, Any], attribute: str, problem: str
) -> None:
    with pytest.raises(InvalidItemError) as caught:
        check_item("devices", item, ["deviceId"], {"deviceId": "S"})

    assert caught.value.table == "devices" and caught.value.attribute == attribute
    assert problem in caught.value.reason
    assert isinstance(caught.value, ValueError)


def test_check_item_returns_the_size_and_check_key_ignores_other_attributes() -> None:
    # Names and values: "deviceId" + "ab", "n" + a one-digit number (1 byte + 1).
    assert check_item("devices", {"deviceId": "ab", "n": 1}, ["deviceId"]) == 8 + 2 + 1 + 2
    check_key("readings", {"deviceId": "a", "at": 1, "note": "x"}, ["deviceId", "at"])
    with pytest.raises(InvalidItemError, match="'at'"):
        check_key(
            "readings",
            {"deviceId": "a", "at": "1"},
            ["deviceId", "at"],
            {"deviceId": "S", "at": "N"},
        )


# -- point 10, numbers, callback -----------------------------------------------------


def test_writes_return_consumed_capacity_on_request(batch: BatchClient, recorder: Recorder) -> None:
    result = batch.put_items("devices", devices(3), return_consumed_capacity=True)

    assert recorder.calls("BatchWriteItem")[0]["ReturnConsumedCapacity"] == "TOTAL"
    assert result.consumed_capacity["devices"].capacity_units > 0


def test_reads_can_return_ints(batch: BatchClient) -> None:
    batch.put_items("devices", [{"deviceId": "a", "count": 3, "ratio": Decimal("0.5")}])

    (item,) = batch.get_items({"devices": [{"deviceId": "a"}]}, numbers="int").items["devices"]

    assert type(item["count"]) is int and item["ratio"] == Decimal("0.5")


def test_a_per_request_callback_sees_each_request_with_retries_and_throttling(
    batch: BatchClient, recorder: Recorder
) -> None:
    refused: set[str] = set()

    def refuse_once(table: str, item: dict[str, Any]) -> bool:
        key = item["deviceId"]["S"]
        if key.endswith("7") and key not in refused:
            refused.add(key)
            return True
        return False

    recorder.refuse = refuse_once
    events: list[RequestEvent] = []

    result = batch.put_items("devices", devices(60), on_request=events.append)

    assert len(events) == result.requests == len(recorder.calls("BatchWriteItem"))
    assert sum(e.items for e in events) == 60 + result.retries
    assert result.retries == len(refused) == 6
    assert sum(e.retries for e in events) == 6
    assert any(e.throttled for e in events) and result.throttles >= 1
    assert all(e.table == "devices" and e.duration >= 0 for e in events)


# -- whole payloads, as boto3's own tests assert them -----------------------------------


def test_batch_write_item_payload(batch: BatchClient, recorder: Recorder) -> None:
    batch.write_items(
        [
            Put("devices", {"deviceId": "a", "n": 1, "tags": {"x"}}),
            Put("readings", {"deviceId": "a", "at": 5, "v": Decimal("1.5")}),
        ],
        return_consumed_capacity=True,
    )
    batch.delete_items("devices", [{"deviceId": "a", "ignored": True}])

    assert recorder.calls("BatchWriteItem") == [
        {
            "RequestItems": {
                "devices": [
                    {
                        "PutRequest": {
                            "Item": {"deviceId": {"S": "a"}, "n": {"N": "1"}, "tags": {"SS": ["x"]}}
                        }
                    }
                ],
                "readings": [
                    {
                        "PutRequest": {
                            "Item": {"deviceId": {"S": "a"}, "at": {"N": "5"}, "v": {"N": "1.5"}}
                        }
                    }
                ],
            },
            "ReturnConsumedCapacity": "TOTAL",
        },
        {"RequestItems": {"devices": [{"DeleteRequest": {"Key": {"deviceId": {"S": "a"}}}}]}},
    ]


def test_batch_get_item_payload(batch: BatchClient, recorder: Recorder) -> None:
    batch.get_items(
        {"devices": [{"deviceId": "a"}], "readings": [{"deviceId": "a", "at": 5}]},
        projection={"devices": ["name", "state"]},
        consistent_read={"readings": True},
        return_consumed_capacity=True,
    )

    assert recorder.calls("BatchGetItem") == [
        {
            "RequestItems": {
                "devices": {
                    "Keys": [{"deviceId": {"S": "a"}}],
                    "ProjectionExpression": "#p0, #p1, #p2",
                    "ExpressionAttributeNames": {"#p0": "name", "#p1": "state", "#p2": "deviceId"},
                },
                "readings": {
                    "Keys": [{"deviceId": {"S": "a"}, "at": {"N": "5"}}],
                    "ConsistentRead": True,
                },
            },
            "ReturnConsumedCapacity": "TOTAL",
        }
    ]


# -- point 11: behaviours a one-line change would break ----------------------------------


def _retry_waits(seed: int) -> tuple[list[float], FakeDynamoDB]:
    fake = FakeDynamoDB({"devices": {"deviceId": "S"}}, seed=seed, real_latency=0.0)
    fake.faults.unprocessed = 1.0
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=1.0)
    with BatchClient(fake.client, concurrency=1, retry=policy, key_schemas=KEYS) as batch:
        batch.context.clock = fake.clock

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            fake.clock.sleep(seconds)

        batch.context.sleep = sleep
        batch.put_items("devices", devices(1), raise_on_unprocessed=False)
    return sleeps, fake


def test_batch_retries_wait_a_jittered_exponential_backoff_first() -> None:
    sleeps, fake = _retry_waits(seed=1)

    assert len(fake.requests) == 6 and len(sleeps) == 5
    # Each retry starts only after a wait (virtual time between sends).
    starts = [r.started for r in fake.requests]
    gaps = [b - a - fake.latency for a, b in itertools.pairwise(starts)]
    assert all(gap > 0 for gap in gaps)
    # Full jitter: within [0, base * 2**n], and not always the cap.
    caps = [0.01 * 2**n for n in range(1, 6)]
    assert all(0 <= s <= cap for s, cap in zip(sleeps, caps, strict=True))
    assert any(s < cap * 0.95 for s, cap in zip(sleeps, caps, strict=True))
    assert len(set(sleeps)) == len(sleeps)


def test_a_generator_is_pulled_lazily(ddb: Any, recorder: Recorder, wire_mode: str) -> None:
    pulled: list[int] = []
    at_first_send: list[int] = []

    def source() -> Iterator[Put]:
        for i in range(5000):
            pulled.append(i)
            yield Put("devices", {"deviceId": f"d-{i}"})

    def note(**_: Any) -> None:
        if not at_first_send:
            at_first_send.append(len(pulled))

    ddb.meta.events.register("before-send.dynamodb.BatchWriteItem", note)
    with BatchClient(ddb, concurrency=2, retry=FAST, key_schemas=KEYS) as batch:
        batch.write_items(source())

    if wire_mode == "lean":
        # Sent from the calling thread as soon as it is full (one op more is pulled, to
        # know it is not the last): its answer travels while later ops are made.
        assert at_first_send[0] <= MAX_WRITE_ITEMS + 1
    else:
        # Handed to a worker as soon as it is full; the worker may only get to send it
        # once the caller's thread waits, which it does with both slots taken.
        assert at_first_send[0] <= 2 * (MAX_WRITE_ITEMS + 1)
    assert len(pulled) == 5000


def test_a_client_side_deadline_from_a_lambda_context_is_honoured(ddb: Any) -> None:
    from dynabatch import deadline_from_context

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 500

    at = deadline_from_context(Context(), margin=0.5)
    assert at <= time.monotonic()
    with BatchClient(ddb, retry=FAST, key_schemas=KEYS) as batch:
        result = batch.put_items("devices", devices(3), deadline_at=at, raise_on_unprocessed=False)
    assert {f.code for f in result.failures} == {"DeadlineExceeded"}
    assert all(f.attempts == 0 for f in result.failures)


def test_a_capacity_budget_never_waits_past_the_deadline() -> None:
    fake = FakeDynamoDB({"devices": {"deviceId": "S"}}, real_latency=0.0)
    budget = CapacityBudget(write_units_per_second=5, clock=fake.clock, sleep=fake.clock.sleep)
    with BatchClient(
        fake.client, concurrency=1, retry=FAST, capacity=budget, key_schemas=KEYS
    ) as batch:
        batch.context.clock, batch.context.sleep = fake.clock, fake.clock.sleep
        deadline_at = fake.clock() + 3.0
        result = batch.put_items(
            "devices", devices(60), deadline_at=deadline_at, raise_on_unprocessed=False
        )

    # 25 units a request at 5 a second: the second request would wait 4 s, past 3 s.
    assert result.written == 25 and len(fake.requests) == 1
    assert {f.code for f in result.failures} == {"DeadlineExceeded"}
    assert fake.clock() <= deadline_at


def test_an_error_on_a_worker_fails_its_request_only(
    batch: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    batch.put_items("devices", devices(300))
    broken: list[int] = []

    def break_first_response(operation: str, parsed: dict[str, Any]) -> None:
        # A response item without its key: matching it to a key raises on the worker.
        if not broken and parsed.get("Responses", {}).get("devices"):
            broken.append(len(parsed["Responses"]["devices"]))
            del parsed["Responses"]["devices"][0]["deviceId"]

    recorder.alter = break_first_response
    keys = [{"deviceId": d["deviceId"]} for d in devices(300)]

    with pytest.raises(UnprocessedKeysError) as caught:
        batch.get_items({"devices": keys})

    result = caught.value.result
    assert len(result.failures) == broken[0] == 100
    assert {f.code for f in result.failures} == {"ValueError"}
    assert len(result.items["devices"]) == 200


@pytest.mark.parametrize("error", [KeyboardInterrupt(), LookupError("keys broke")])
def test_a_key_source_that_raises_settles_and_carries_the_result(
    batch: BatchClient, recorder: Recorder, error: BaseException
) -> None:
    batch.put_items("devices", devices(400))
    recorder.delay = 0.002

    def keys() -> Iterator[dict[str, Any]]:
        for item in devices(400):
            yield {"deviceId": item["deviceId"]}
        raise error

    expected = KeyboardInterrupt if isinstance(error, KeyboardInterrupt) else BatchAbortedError
    with pytest.raises(expected) as caught:
        batch.get_items({"devices": keys()})

    assert recorder.in_flight == 0
    result = caught.value.result  # type: ignore[union-attr]
    assert all(f.code == "Aborted" for f in result.failures)
    # Each key pulled is found or reported, and what was found is in the result.
    assert len(result.items["devices"]) + len(result.failures) == 400
    if isinstance(caught.value, BatchAbortedError):
        assert caught.value.__cause__ is error


# -- the last request on the caller's thread ---------------------------------------------


def test_a_call_of_one_request_sends_it_on_the_callers_thread(
    batch: BatchClient, ddb: Any, wire_mode: str
) -> None:
    import threading

    threads: list[threading.Thread] = []
    ddb.meta.events.register_first(
        "before-send.dynamodb", lambda **_: threads.append(threading.current_thread())
    )
    batch.put_items("devices", devices(20))
    assert len(batch.get_items({"devices": [{"deviceId": "d-00001"}]}).items["devices"]) == 1
    assert threads == [threading.current_thread()] * 2  # no hand-off to a worker and back
    threads.clear()
    batch.put_items("devices", devices(200))  # 8 requests
    here = threads.count(threading.current_thread())
    if wire_mode == "lean":  # multiplexed on the caller's thread: no worker at all
        assert len(threads) == 8 and here == 8
        assert batch.context._executor is None
    else:  # all but the last on workers
        assert len(threads) == 8 and here == 1


def test_an_interrupt_during_a_request_on_the_callers_thread_reports_its_ops(
    batch: BatchClient, ddb: Any
) -> None:
    def interrupt(**_: Any) -> None:
        raise KeyboardInterrupt

    ddb.meta.events.register_first("before-send.dynamodb.BatchWriteItem", interrupt)
    with pytest.raises(KeyboardInterrupt) as caught:
        batch.put_items("devices", devices(20))
    result = caught.value.result  # type: ignore[attr-defined]
    assert result.written == 0 and len(result.failures) == 20
    assert {f.code for f in result.failures} == {"Aborted"}
    assert "may have been applied" in result.failures[0].reason
