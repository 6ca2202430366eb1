"""BatchWriteItem through dynabatch: every item stored or reported, never more than the limits."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from dynabatch import (
    MAX_ITEM_BYTES,
    MAX_WRITE_ITEMS,
    BatchClient,
    Delete,
    ItemTooLargeError,
    Put,
    RetryPolicy,
    UnprocessedItemsError,
    item_size,
    ops_from_request_items,
)
from dynabatch.serde import key_identity

from tests.support.recorder import Recorder

from .conftest import FAST, KEYS, stored


def devices(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"deviceId": f"d-{i:05d}", "name": f"lamp {i}", "state": "on", **extra} for i in range(n)
    ]


def write_requests(recorder: Recorder) -> list[dict[str, Any]]:
    return recorder.calls("BatchWriteItem")


def assert_no_duplicate_keys(requests: list[dict[str, Any]]) -> None:
    for params in requests:
        for table, reqs in params["RequestItems"].items():
            keys = [
                key_identity(
                    {
                        n: (r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"])[n]
                        for n in KEYS[table]
                    }
                )
                for r in reqs
            ]
            assert len(keys) == len(set(keys)), "a request carried one key twice"


def test_any_number_of_items_is_written_in_requests_of_at_most_25(
    batch: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    result = batch.put_items("devices", devices(1003))

    requests = write_requests(recorder)
    assert len(requests) == math.ceil(1003 / MAX_WRITE_ITEMS)
    assert all(len(r["RequestItems"]["devices"]) <= MAX_WRITE_ITEMS for r in requests)
    assert result.written == 1003 and result.complete and result.requests == len(requests)
    assert len(stored(ddb, "devices")) == 1003


def test_several_tables_in_one_call_share_requests(
    batch: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    ops = [Put("devices", d) for d in devices(30)] + [
        Put("readings", {"deviceId": "d-1", "at": i, "v": Decimal(i)}) for i in range(20)
    ]

    result = batch.write_items(ops)

    assert result.written == 50
    assert len(write_requests(recorder)) == 2
    assert len(stored(ddb, "devices")) == 30 and len(stored(ddb, "readings")) == 20


@pytest.mark.parametrize("odd", [[], [{"deviceId": "\u00e9" * 1025}]], ids=["plain", "one-odd-key"])
def test_a_list_with_repeated_keys_writes_each_key_once_with_its_last_item(
    batch: BatchClient, recorder: Recorder, ddb: Any, odd: list[dict[str, Any]]
) -> None:
    # A plain list is de-duplicated by its own quick pass; one key over the 2,048-byte
    # limit (1,025 characters, 2,050 bytes) sends the whole list down the checked pass.
    # Both must keep the last item of each key, once, and count what they dropped.
    again = [
        {"deviceId": "d-00003", "name": "renamed"},
        {"deviceId": "d-00007", "name": "again"},
        {"deviceId": "d-00003", "name": "last"},
    ]
    result = batch.put_items("devices", devices(40) + again + odd, raise_on_unprocessed=False)

    assert_no_duplicate_keys(write_requests(recorder))
    assert (result.written, result.superseded, len(result.failures)) == (40, 3, len(odd))
    items = {i["deviceId"]: i for i in stored(ddb, "devices")}
    assert len(items) == 40 and items["d-00003"]["name"] == "last"
    assert items["d-00007"]["name"] == "again"


def test_duplicate_keys_last_write_wins_and_no_request_repeats_a_key(
    batch: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    ops: list[Put | Delete] = [Put("devices", d) for d in devices(60)]
    ops += [Put("devices", {"deviceId": "d-00003", "name": "renamed"})]
    ops += [Delete("devices", {"deviceId": "d-00004"})]
    ops += [
        Put("readings", {"deviceId": "x", "at": 1, "v": 1}),
        Put("readings", {"deviceId": "x", "at": Decimal("1.0"), "v": 2}),
    ]

    result = batch.write_items(ops)

    assert_no_duplicate_keys(write_requests(recorder))
    assert result.superseded == 3
    items = {i["deviceId"]: i for i in stored(ddb, "devices")}
    assert items["d-00003"] == {"deviceId": "d-00003", "name": "renamed"}
    assert "d-00004" not in items and len(items) == 59
    assert [r["v"] for r in stored(ddb, "readings")] == [2]


def test_a_generator_is_written_lazily_and_its_duplicates_still_end_last_write_wins(
    batch: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    def stream() -> Any:
        for round_ in range(3):
            for i in range(400):
                yield Put("devices", {"deviceId": f"d-{i}", "round": round_})

    result = batch.write_items(stream())

    assert_no_duplicate_keys(write_requests(recorder))
    assert result.complete
    assert {i["round"] for i in stored(ddb, "devices")} == {2}
    assert len(stored(ddb, "devices")) == 400


def test_requests_are_split_by_size_as_well_as_count(ddb: Any, recorder: Recorder) -> None:
    items = devices(40, blob="x" * 1000)
    limit = (
        5
        * item_size(
            {
                "deviceId": {"S": "d-00000"},
                "name": {"S": "lamp 0"},
                "state": {"S": "on"},
                "blob": {"S": "x" * 1000},
            }
        )
        + 10
    )
    with BatchClient(
        ddb, concurrency=4, retry=FAST, key_schemas=KEYS, max_request_bytes=limit
    ) as batch:
        result = batch.put_items("devices", items)

    for params in write_requests(recorder):
        sizes = [item_size(r["PutRequest"]["Item"]) for r in params["RequestItems"]["devices"]]
        assert sum(sizes) <= limit
    assert len(write_requests(recorder)) == 8
    assert result.written == 40


def test_an_item_over_400_kb_in_a_list_is_reported_alone_and_never_sent(
    batch: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    items = devices(10) + [{"deviceId": "huge-1", "blob": "x" * MAX_ITEM_BYTES}]

    with pytest.raises(UnprocessedItemsError) as caught:
        batch.put_items("devices", items)

    (failure,) = caught.value.result.failures
    assert failure.key == {"deviceId": "huge-1"} and failure.code == "ItemTooLarge"
    assert failure.attempts == 0 and "huge-1" in failure.reason
    sent = [r for p in write_requests(recorder) for r in p["RequestItems"]["devices"]]
    assert len(sent) == 10 and len(stored(ddb, "devices")) == 10
    assert ItemTooLargeError.code == failure.code


def test_an_oversized_item_in_a_stream_is_reported_and_the_rest_written(
    batch: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    items = iter(devices(30) + [{"deviceId": "huge-1", "blob": b"x" * (MAX_ITEM_BYTES + 1)}])

    result = batch.put_items("devices", items, raise_on_unprocessed=False)

    assert result.written == 30
    assert result.unprocessed == {
        "devices": [
            {"PutRequest": {"Item": {"deviceId": "huge-1", "blob": b"x" * (MAX_ITEM_BYTES + 1)}}}
        ]
    }
    assert result.errors[0].code == "ItemTooLarge"
    assert len(stored(ddb, "devices")) == 30


def test_unprocessed_items_are_retried_until_stored(
    batch: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    refusals: dict[str, int] = {}

    def refuse_twice(table: str, item: dict[str, Any]) -> bool:
        key = item["deviceId"]["S"]
        if int(key[-1]) % 3 == 0 and refusals.get(key, 0) < 2:
            refusals[key] = refusals.get(key, 0) + 1
            return True
        return False

    recorder.refuse = refuse_twice
    result = batch.put_items("devices", devices(200))

    assert result.written == 200 and result.complete
    assert len(stored(ddb, "devices")) == 200
    assert_no_duplicate_keys(write_requests(recorder))


def test_a_permanently_refused_item_is_reported_and_every_other_item_stored(
    batch: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    recorder.refuse = lambda table, item: item["deviceId"]["S"] == "d-00042"

    with pytest.raises(UnprocessedItemsError) as caught:
        batch.put_items("devices", devices(300))

    error = caught.value
    assert error.unprocessed == {"devices": [{"PutRequest": {"Item": devices(300)[42]}}]}
    assert error.result.written == 299
    assert len(stored(ddb, "devices")) == 299
    # Bounded: the refused item was sent exactly max_attempts times, no more.
    tries = sum(
        1
        for s in recorder.sent
        if any(
            r["PutRequest"]["Item"]["deviceId"]["S"] == "d-00042"
            for r in s.original["RequestItems"].get("devices", [])
        )
    )
    assert tries == FAST.max_attempts


def test_leftovers_can_be_fed_back_once_the_table_accepts_them(
    batch: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    recorder.refuse = lambda table, item: item["deviceId"]["S"].endswith("7")
    first = batch.put_items("devices", devices(100), raise_on_unprocessed=False)
    recorder.refuse = None

    second = batch.write_items(ops_from_request_items(first.unprocessed))

    assert first.unprocessed_count == 10 and second.written == 10
    assert len(stored(ddb, "devices")) == 100


@pytest.mark.parametrize(
    "code",
    ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"],
)
def test_throttling_errors_are_retried(
    batch: BatchClient, recorder: Recorder, ddb: Any, code: str
) -> None:
    recorder.errors = [("BatchWriteItem", code)] * 3

    result = batch.put_items("devices", devices(100))

    assert result.complete and len(stored(ddb, "devices")) == 100
    assert len(write_requests(recorder)) == 4 + 3


def test_a_non_retryable_error_reports_its_items_and_the_others_are_written(
    batch: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    recorder.errors = [("BatchWriteItem", "ItemCollectionSizeLimitExceededException")]

    result = batch.put_items("devices", devices(100), raise_on_unprocessed=False)

    assert result.errors[0].code == "ItemCollectionSizeLimitExceededException"
    assert result.errors[0].count == 25
    assert result.unprocessed_count == 25 and result.written == 75
    assert {f.attempts for f in result.failures} == {1}
    assert len(write_requests(recorder)) == 4
    assert len(stored(ddb, "devices")) == 75


def test_retry_deadline_bounds_a_call_that_keeps_being_refused(
    ddb: Any, recorder: Recorder
) -> None:
    recorder.refuse = lambda table, item: True
    policy = RetryPolicy(max_attempts=1000, base_delay=0.001, max_delay=0.002, deadline=0.2)
    with BatchClient(ddb, concurrency=2, retry=policy, key_schemas=KEYS) as batch:
        result = batch.put_items("devices", devices(30), raise_on_unprocessed=False)

    assert result.unprocessed_count == 30 and result.written == 0
    assert len(write_requests(recorder)) < 1000


def test_concurrency_is_bounded_and_used_on_the_thread_pool(ddb: Any, recorder: Recorder) -> None:
    # The recorder answers (slowly) on the sending thread: only the pool overlaps it. The
    # lean wire's multiplexed path is held to the same bound over sockets, in
    # test_multiplexed.py.
    recorder.delay = 0.02
    with BatchClient(ddb, wire="botocore", concurrency=4, retry=FAST, key_schemas=KEYS) as batch:
        batch.put_items("devices", devices(500))

    assert 1 < recorder.max_in_flight <= 4


def test_writer_pushes_in_batches_and_keeps_per_key_order(
    batch: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    with batch.writer(buffer_size=50) as writer:
        for item in devices(120):
            writer.put("devices", item)
        writer.delete("devices", {"deviceId": "d-00001"})
        writer.put("devices", {"deviceId": "d-00001", "name": "back"})

    assert writer.result.written == 120 + 1
    items = {i["deviceId"]: i for i in stored(ddb, "devices")}
    assert items["d-00001"] == {"deviceId": "d-00001", "name": "back"} and len(items) == 120


def test_writer_raises_with_everything_it_could_not_write(
    batch: BatchClient, recorder: Recorder
) -> None:
    recorder.refuse = lambda table, item: item["deviceId"]["S"] == "d-00005"

    writer = batch.writer()
    for item in devices(10):
        writer.put("devices", item)

    with pytest.raises(UnprocessedItemsError) as caught:
        writer.__exit__(None, None, None)

    assert caught.value.unprocessed == {"devices": [{"PutRequest": {"Item": devices(10)[5]}}]}


def test_tables_not_in_key_schemas_are_described_once(ddb: Any, recorder: Recorder) -> None:
    with BatchClient(ddb, retry=FAST) as batch:
        batch.put_items(
            "readings", [{"deviceId": "a", "at": 1}, {"deviceId": "a", "at": 1, "v": 2}]
        )
        batch.put_items("readings", [{"deviceId": "b", "at": 1}])

    assert len(recorder.calls("DescribeTable")) == 1
    assert [r["v"] for r in stored(ddb, "readings") if r["deviceId"] == "a"] == [2]


def test_a_small_connection_pool_is_flagged(ddb: Any, caplog: pytest.LogCaptureFixture) -> None:
    import boto3

    small = boto3.client("dynamodb")  # botocore's default pool: 10
    BatchClient(small, concurrency=32)

    assert "connection pool (10) is smaller than concurrency (32)" in caplog.text


def test_make_client_pool_fits_concurrency_and_skips_botocore_validation(ddb: Any) -> None:
    from botocore.exceptions import ParamValidationError
    from dynabatch import make_client

    client = make_client(64)
    assert client.meta.config.max_pool_connections == 64
    # The layer builds every request itself, so botocore's per-attribute walk is skipped:
    # a malformed parameter is sent as it is instead of failing in the client.
    try:
        client.list_tables(Limit="ten")
    except ParamValidationError:
        pytest.fail("botocore still validates parameters")
    except Exception:  # noqa: S110 - whatever the endpoint makes of it is not the point
        pass


def test_every_type_round_trips_and_a_delete_sends_the_whole_key(
    batch: BatchClient, ddb: Any, recorder: Recorder
) -> None:
    items = [
        {
            "deviceId": "d-1",
            "at": n,
            "raw": b"\x00\xff" * n,
            "tags": {"a", "b"},
            "levels": {1, Decimal("2.5")},
            "blobs": {b"x", b"\x80"},
            "nested": {"l": [1, "two", None, True, {"m": 1.5}]},
            "temp": 21.5,
            "note": "caf\u00e9 \u2603",
        }
        for n in range(1, 31)
    ]
    batch.put_items("readings", items)
    keys = [{"deviceId": "d-1", "at": n} for n in range(1, 31)]

    read = batch.get_items({"readings": keys}).items["readings"]

    assert read == items
    assert isinstance(read[0]["temp"], Decimal) and isinstance(read[0]["raw"], bytes)
    # Attributes beyond the key are dropped from a delete; both key attributes are sent.
    batch.write_items([Delete("readings", {**key, "raw": b"extra"}) for key in keys[::2]])
    assert sorted(item["at"] for item in stored(ddb, "readings")) == list(range(2, 31, 2))
    deletes = [r for p in write_requests(recorder) for r in p["RequestItems"]["readings"]][30:]
    assert {tuple(r["DeleteRequest"]["Key"]) for r in deletes} == {("deviceId", "at")}


def test_a_request_whose_every_item_is_refused_is_never_sent(
    batch: BatchClient, recorder: Recorder, ddb: Any
) -> None:
    bad = [
        {"deviceId": "nan", "temp": float("nan")},
        {"deviceId": "huge", "blob": "x" * MAX_ITEM_BYTES},
        {"deviceId": "empty", "tags": set()},
    ]
    result = batch.put_items("devices", bad, raise_on_unprocessed=False)

    assert write_requests(recorder) == [] and result.requests == 0 and result.written == 0
    codes = {f.key["deviceId"]: (f.code, f.attempts) for f in result.failures}  # type: ignore[index]
    assert codes == {
        "nan": ("InvalidItem", 0),
        "huge": ("ItemTooLarge", 0),
        "empty": ("InvalidItem", 0),
    }
    assert result.failures[0].request == {"PutRequest": {"Item": bad[0]}}


@pytest.mark.parametrize("multiplexed", [True, False])
def test_items_are_encoded_once_when_their_request_is_sent(
    ddb: Any, monkeypatch: pytest.MonkeyPatch, multiplexed: bool
) -> None:
    # Per-item work is done once per request as it goes out: on the caller's thread when
    # it multiplexes the requests, else on the worker that sends it (the caller's thread
    # then sends only the last request itself).
    import threading

    from dynabatch import writer

    encoded_on: list[threading.Thread] = []
    encode = writer.encode_item

    def recording(item: Any) -> Any:
        encoded_on.append(threading.current_thread())
        return encode(item)

    monkeypatch.setattr(writer, "encode_item", recording)
    with BatchClient(ddb, wire="lean", concurrency=4, retry=FAST, key_schemas=KEYS) as batch:
        if not multiplexed:
            pool = batch.context.wire_client.http_session

            class SendOnly:  # an HTTP session that only blocks, as botocore's does
                send = pool.send

            batch.context.wire_client.http_session = SendOnly()
        assert batch.put_items("devices", devices(200)).written == 200
    assert len(encoded_on) == 200
    here = encoded_on.count(threading.current_thread())
    assert here == 200 if multiplexed else here <= MAX_WRITE_ITEMS
