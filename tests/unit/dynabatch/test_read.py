"""BatchGetItem through dynabatch: every key answered once, found, missing or reported."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from dynabatch import MAX_GET_KEYS, BatchClient, RetryPolicy, UnprocessedKeysError
from dynabatch.serde import key_identity

from tests.support.recorder import Recorder

from .conftest import FAST, KEYS


@pytest.fixture
def seeded(batch: BatchClient) -> BatchClient:
    batch.put_items(
        "devices",
        [
            {
                "deviceId": f"d-{i:04d}",
                "name": f"lamp {i}",
                "state": "on",
                "meta": {"tags": ["a", f"t{i}"], "fw": "1.2"},
            }
            for i in range(500)
        ],
    )
    batch.put_items(
        "readings", [{"deviceId": "d-0001", "at": t, "value": Decimal(t) / 10} for t in range(30)]
    )
    return batch


def get_requests(recorder: Recorder) -> list[dict[str, Any]]:
    return recorder.calls("BatchGetItem")


def keys(*numbers: int) -> list[dict[str, str]]:
    return [{"deviceId": f"d-{n:04d}"} for n in numbers]


def test_any_number_of_keys_is_read_in_requests_of_at_most_100_without_duplicates(
    seeded: BatchClient, recorder: Recorder
) -> None:
    wanted = keys(*range(450)) + keys(*range(0, 450, 7)) + keys(9990, 9991)

    result = seeded.get_items({"devices": wanted})

    requests = get_requests(recorder)
    assert len(requests) == math.ceil(452 / MAX_GET_KEYS)
    for params in requests:
        sent = [key_identity(k) for k in params["RequestItems"]["devices"]["Keys"]]
        assert len(sent) <= MAX_GET_KEYS and len(sent) == len(set(sent))
    assert [i["deviceId"] for i in result.items["devices"]] == [f"d-{n:04d}" for n in range(450)]
    assert result.missing == {"devices": keys(9990, 9991)}
    assert result.complete and result.requests == len(requests)


def test_projection_with_reserved_words_returns_those_attributes_and_the_key(
    seeded: BatchClient, recorder: Recorder
) -> None:
    result = seeded.get_items({"devices": keys(1, 2)}, projection="name, state, meta.fw")

    assert result.items["devices"] == [
        {"deviceId": "d-0001", "name": "lamp 1", "state": "on", "meta": {"fw": "1.2"}},
        {"deviceId": "d-0002", "name": "lamp 2", "state": "on", "meta": {"fw": "1.2"}},
    ]
    spec = get_requests(recorder)[-1]["RequestItems"]["devices"]
    assert "name" not in spec["ProjectionExpression"]
    assert set(spec["ExpressionAttributeNames"].values()) == {
        "name",
        "state",
        "meta",
        "fw",
        "deviceId",
    }


def test_several_tables_with_their_own_options_in_one_request(
    seeded: BatchClient, recorder: Recorder
) -> None:
    result = seeded.get_items(
        {"devices": keys(3), "readings": [{"deviceId": "d-0001", "at": t} for t in (1, 2, 99)]},
        projection={"devices": ["name"]},
        consistent_read={"readings": True},
        return_consumed_capacity=True,
    )

    assert result.items["devices"] == [{"deviceId": "d-0003", "name": "lamp 3"}]
    assert [r["value"] for r in result.items["readings"]] == [Decimal("0.1"), Decimal("0.2")]
    assert result.missing == {"readings": [{"deviceId": "d-0001", "at": Decimal(99)}]}
    (params,) = get_requests(recorder)
    assert params["RequestItems"]["readings"]["ConsistentRead"] is True
    assert "ConsistentRead" not in params["RequestItems"]["devices"]
    assert params["ReturnConsumedCapacity"] == "TOTAL"
    assert set(result.consumed_capacity) == {"devices", "readings"}


def refuse_once_keys_ending_in(*digits: str) -> Any:
    seen: set[str] = set()

    def refuse(table: str, key: dict[str, Any]) -> bool:
        name = key["deviceId"]["S"]
        if name.endswith(digits) and name not in seen:
            seen.add(name)
            return True
        return False

    return refuse


def test_unprocessed_keys_are_retried_until_read(seeded: BatchClient, recorder: Recorder) -> None:
    recorder.refuse = refuse_once_keys_ending_in("3", "7")

    result = seeded.get_items({"devices": keys(*range(300))})

    assert len(result.items["devices"]) == 300 and result.complete
    sent = [
        k
        for p in recorder.sent
        if p.operation == "BatchGetItem"
        for k in p.original["RequestItems"]["devices"]["Keys"]
    ]
    assert len(sent) == 300 + 60


def test_leftovers_ride_along_with_later_keys_instead_of_going_alone(
    ddb: Any, recorder: Recorder
) -> None:
    with BatchClient(
        ddb, concurrency=1, retry=RetryPolicy(base_delay=0), key_schemas=KEYS
    ) as batch:
        batch.put_items("devices", [{"deviceId": f"d-{i:04d}"} for i in range(300)])
        recorder.refuse = refuse_once_keys_ending_in("3", "7")
        result = batch.get_items({"devices": keys(*range(300))})

    assert len(result.items["devices"]) == 300
    # 360 keys sent in all (60 twice). Each request leaves as soon as it is full, so the
    # leftovers of one fill the next beside fresh keys: every request but the last is
    # full (not 3 full + 3 of 20), and only the last request's own leftovers go after it.
    sizes = [
        len(s.original["RequestItems"]["devices"]["Keys"])
        for s in recorder.sent
        if s.operation == "BatchGetItem"
    ]
    assert sum(sizes) == 360 and all(size == 100 for size in sizes[:-2])
    assert sizes[-2] + sizes[-1] == 60 and len(sizes) <= 5


def test_a_key_refused_forever_is_reported_and_the_rest_returned(
    seeded: BatchClient, recorder: Recorder
) -> None:
    recorder.refuse = lambda table, key: key["deviceId"]["S"] == "d-0010"

    with pytest.raises(UnprocessedKeysError) as caught:
        seeded.get_items({"devices": keys(*range(50))})

    assert caught.value.unprocessed == {"devices": keys(10)}
    assert len(caught.value.result.items["devices"]) == 49
    assert len(get_requests(recorder)) == FAST.max_attempts


def test_a_response_cut_at_16_mb_is_followed_at_once_and_not_counted_as_a_retry(
    ddb: Any, recorder: Recorder
) -> None:
    big = "x" * 390_000
    with BatchClient(ddb, retry=RetryPolicy(max_attempts=1), key_schemas=KEYS) as batch:
        batch.put_items("devices", [{"deviceId": f"big-{i}", "blob": big} for i in range(50)])
        state = {"calls": 0}

        def cut_first_response(table: str, key: dict[str, Any]) -> bool:
            # DynamoDB fills 16 MB (about 42 of these items) and leaves the rest unprocessed.
            return state["calls"] == 0 and int(key["deviceId"]["S"].split("-")[1]) >= 42

        recorder.refuse = cut_first_response
        recorder.alter = lambda operation, _: state.__setitem__("calls", state["calls"] + 1)
        result = batch.get_items({"devices": [{"deviceId": f"big-{i}"} for i in range(50)]})

    assert len(result.items["devices"]) == 50 and result.complete
    assert len(get_requests(recorder)) == 2


def test_throttling_leftovers_use_the_retry_budget(ddb: Any, recorder: Recorder) -> None:
    with BatchClient(ddb, retry=RetryPolicy(max_attempts=1), key_schemas=KEYS) as batch:
        batch.put_items("devices", [{"deviceId": f"d-{i}"} for i in range(10)])
        recorder.refuse = lambda table, key: key["deviceId"]["S"] == "d-3"
        result = batch.get_items(
            {"devices": [{"deviceId": f"d-{i}"} for i in range(10)]}, raise_on_unprocessed=False
        )

    assert result.unprocessed == {"devices": [{"deviceId": "d-3"}]}
    assert len(result.items["devices"]) == 9


def test_throttling_errors_are_retried(seeded: BatchClient, recorder: Recorder) -> None:
    recorder.errors = [("BatchGetItem", "ProvisionedThroughputExceededException")] * 2

    result = seeded.get_items({"devices": keys(*range(150))})

    assert len(result.items["devices"]) == 150
    assert len(get_requests(recorder)) == 2 + 2


def test_streaming_yields_each_response_and_summarises_at_the_end(seeded: BatchClient) -> None:
    stream = seeded.iter_get_items({"devices": (k for k in keys(*range(250), 9999))})

    pages = list(stream)

    assert len(pages) == 3 and {p.table for p in pages} == {"devices"}
    assert sum(len(p.items) for p in pages) == 250
    assert stream.result.missing == {"devices": keys(9999)}
    assert stream.result.items == {}


def test_numbers_that_are_equal_are_the_same_key(seeded: BatchClient, recorder: Recorder) -> None:
    result = seeded.get_items(
        {
            "readings": [
                {"deviceId": "d-0001", "at": 5},
                {"deviceId": "d-0001", "at": Decimal("5.0")},
            ]
        }
    )

    assert len(result.items["readings"]) == 1
    assert len(get_requests(recorder)[-1]["RequestItems"]["readings"]["Keys"]) == 1
