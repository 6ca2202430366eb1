"""Transactions: the token is passed, cancellations become typed, readable errors."""

from __future__ import annotations

import time
from typing import Any

import pytest
from boto3.dynamodb.conditions import Attr
from dynabatch import (
    MAX_ITEM_BYTES,
    BatchClient,
    DeadlineExceededError,
    ItemTooLargeError,
    RetryPolicy,
    ThrottledError,
    TransactCheck,
    TransactDelete,
    TransactGet,
    TransactionCancelledError,
    TransactionTooLargeError,
    TransactPut,
    TransactUpdate,
)
from dynabatch.transactions import transact_write

from tests.support.recorder import Recorder

from .conftest import FAST


@pytest.fixture
def owned(batch: BatchClient) -> BatchClient:
    batch.put_items(
        "devices",
        [
            {"deviceId": "d-1", "ownerId": "u-1", "name": "lamp"},
            {"deviceId": "d-2", "ownerId": "u-2"},
        ],
    )
    return batch


def move(device: str, old: str, new: str) -> TransactUpdate:
    return TransactUpdate(
        "devices",
        {"deviceId": device},
        "SET ownerId = :new",
        condition=Attr("ownerId").eq(old),
        values={":new": new},
    )


def test_a_transaction_applies_every_action_and_passes_the_token(
    owned: BatchClient, recorder: Recorder
) -> None:
    owned.transact_write(
        [
            move("d-1", "u-1", "u-9"),
            TransactPut("devices", {"deviceId": "d-3", "ownerId": "u-9"}),
            TransactDelete("devices", {"deviceId": "d-2"}),
        ],
        client_request_token="transfer-d-1-abc",
    )

    assert recorder.calls("TransactWriteItems")[0]["ClientRequestToken"] == "transfer-d-1-abc"
    got = owned.transact_get(
        [TransactGet("devices", {"deviceId": d}) for d in ("d-1", "d-2", "d-3")]
    )
    assert [g and g["ownerId"] for g in got] == ["u-9", None, "u-9"]


def test_a_failed_condition_names_the_action_its_key_and_the_item_as_it_was(
    owned: BatchClient, recorder: Recorder
) -> None:
    with pytest.raises(TransactionCancelledError) as caught:
        owned.transact_write(
            [
                TransactCheck("devices", {"deviceId": "d-2"}, condition=Attr("ownerId").eq("u-2")),
                move("d-1", "u-7", "u-9"),
            ]
        )

    error = caught.value
    assert error.condition_failed and not error.conflict
    (reason,) = error.reasons
    assert (reason.index, reason.table, reason.key, reason.code) == (
        1,
        "devices",
        {"deviceId": "d-1"},
        "ConditionalCheckFailed",
    )
    assert reason.item == {"deviceId": "d-1", "ownerId": "u-1", "name": "lamp"}
    assert "#1 devices {'deviceId': 'd-1'}: ConditionalCheckFailed" in str(error)
    (after,) = owned.transact_get(
        [TransactGet("devices", {"deviceId": "d-1"}, projection="ownerId")]
    )
    assert after is not None and after["ownerId"] == "u-1"
    # moto ignores the projection of TransactGetItems; DynamoDB honours what was sent.
    get = recorder.calls("TransactGetItems")[-1]["TransactItems"][0]["Get"]
    assert get["ExpressionAttributeNames"] == {"#p0": "ownerId"}


def test_a_conflict_is_told_apart(owned: BatchClient, recorder: Recorder) -> None:
    recorder.cancellations = [
        [
            {"Code": "None"},
            {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"},
        ]
    ]

    with pytest.raises(TransactionCancelledError) as caught:
        owned.transact_write([move("d-1", "u-1", "u-2"), move("d-2", "u-2", "u-1")])

    assert caught.value.conflict and not caught.value.condition_failed
    assert caught.value.reasons[0].key == {"deviceId": "d-2"}


def test_a_throttled_transaction_is_retried_with_the_same_token(
    owned: BatchClient, recorder: Recorder
) -> None:
    recorder.cancellations = [[{"Code": "ThrottlingError"}, {"Code": "None"}]]
    recorder.errors = [("TransactWriteItems", "ProvisionedThroughputExceededException")]

    owned.transact_write([move("d-1", "u-1", "u-5"), move("d-2", "u-2", "u-5")])

    tokens = {p["ClientRequestToken"] for p in recorder.calls("TransactWriteItems")}
    assert len(recorder.calls("TransactWriteItems")) == 3 and len(tokens) == 1
    assert [
        g["ownerId"] for g in owned.transact_get([TransactGet("devices", {"deviceId": "d-1"})]) if g
    ] == ["u-5"]


def test_throttling_past_the_budget_raises(owned: BatchClient, recorder: Recorder) -> None:
    recorder.errors = [("TransactWriteItems", "ThrottlingException")] * 20

    with pytest.raises(ThrottledError):
        owned.transact_write([move("d-1", "u-1", "u-5")])

    assert len(recorder.calls("TransactWriteItems")) == owned.retry.max_attempts


def test_limits_are_checked_before_sending(owned: BatchClient, recorder: Recorder) -> None:
    with pytest.raises(ValueError, match="at most 100"):
        owned.transact_write([TransactPut("devices", {"deviceId": f"x{i}"}) for i in range(101)])
    with pytest.raises(ValueError, match="at least one"):
        owned.transact_write([])

    assert recorder.calls("TransactWriteItems") == []


def test_the_whole_request_is_sent_as_built(owned: BatchClient, recorder: Recorder) -> None:
    owned.transact_write(
        [
            move("d-2", "u-2", "u-9"),
            TransactPut(
                "devices",
                {"deviceId": "d-3", "ownerId": "u-9"},
                condition="attribute_not_exists(#id)",
                names={"#id": "deviceId"},
            ),
            TransactDelete("devices", {"deviceId": "d-4"}),
            TransactCheck("devices", {"deviceId": "d-1"}, condition=Attr("name").exists()),
        ],
        client_request_token="t-1",
        return_old_on_condition_failure=False,
    )

    assert recorder.calls("TransactWriteItems") == [
        {
            "TransactItems": [
                {
                    "Update": {
                        "Key": {"deviceId": {"S": "d-2"}},
                        "UpdateExpression": "SET ownerId = :new",
                        "ExpressionAttributeValues": {":new": {"S": "u-9"}, ":v0": {"S": "u-2"}},
                        "TableName": "devices",
                        "ConditionExpression": "#n0 = :v0",
                        "ExpressionAttributeNames": {"#n0": "ownerId"},
                    }
                },
                {
                    "Put": {
                        "Item": {"deviceId": {"S": "d-3"}, "ownerId": {"S": "u-9"}},
                        "TableName": "devices",
                        "ConditionExpression": "attribute_not_exists(#id)",
                        "ExpressionAttributeNames": {"#id": "deviceId"},
                    }
                },
                {"Delete": {"Key": {"deviceId": {"S": "d-4"}}, "TableName": "devices"}},
                {
                    "ConditionCheck": {
                        "Key": {"deviceId": {"S": "d-1"}},
                        "TableName": "devices",
                        "ConditionExpression": "attribute_exists(#n1)",
                        "ExpressionAttributeNames": {"#n1": "name"},
                    }
                },
            ],
            "ClientRequestToken": "t-1",
        }
    ]


def test_an_item_over_400_kb_is_refused_before_sending(
    owned: BatchClient, recorder: Recorder
) -> None:
    big = {"deviceId": "d-big", "blob": "x" * MAX_ITEM_BYTES}

    with pytest.raises(ItemTooLargeError) as caught:
        owned.transact_write([move("d-1", "u-1", "u-2"), TransactPut("devices", big)])

    assert caught.value.key == {"deviceId": "d-big"} and caught.value.size > MAX_ITEM_BYTES
    assert "xxxx" not in str(caught.value)
    assert recorder.calls("TransactWriteItems") == []


def test_a_transaction_over_4_mb_is_refused_before_sending(
    owned: BatchClient, recorder: Recorder
) -> None:
    # Each item is under 400 KB; eleven of them are over 4 MB together.
    items = [{"deviceId": f"d-{i}", "blob": "x" * 390_000} for i in range(11)]

    with pytest.raises(TransactionTooLargeError) as caught:
        owned.transact_write([TransactPut("devices", item) for item in items])

    assert caught.value.size > caught.value.limit == 4 * 1024 * 1024
    assert recorder.calls("TransactWriteItems") == []
    # Ten of them fit: the limit is the one DynamoDB documents, not a lower one.
    owned.transact_write([TransactPut("devices", item) for item in items[:10]])
    assert len(recorder.calls("TransactWriteItems")) == 1


def test_a_cancellation_reason_carries_the_key_only_when_the_schema_was_not_given(
    ddb: Any, recorder: Recorder
) -> None:
    ddb.put_item(TableName="devices", Item={"deviceId": {"S": "d-1"}})
    secret = {"deviceId": "d-1", "apiToken": "s3cr3t-token", "notes": "private"}
    # No key_schemas: the layer must look the key up.
    batch = BatchClient(ddb, retry=FAST)
    with batch, pytest.raises(TransactionCancelledError) as caught:
        batch.transact_write(
            [TransactPut("devices", secret, condition=Attr("deviceId").not_exists())],
            return_old_on_condition_failure=False,
        )

    (reason,) = caught.value.reasons
    assert reason.key == {"deviceId": "d-1"} and reason.code == "ConditionalCheckFailed"
    assert "s3cr3t" not in str(caught.value) and "private" not in str(caught.value)
    assert len(recorder.calls("DescribeTable")) == 1


def test_a_throttled_transaction_waits_a_backoff_before_its_retry(
    owned: BatchClient, recorder: Recorder
) -> None:
    recorder.errors = [("TransactWriteItems", "ThrottlingException")] * 2
    waits: list[int] = []

    transact_write(
        owned.context,
        [move("d-1", "u-1", "u-5")],
        None,
        True,
        sleep=lambda _: waits.append(len(recorder.calls("TransactWriteItems"))),
    )

    assert waits == [1, 2] and len(recorder.calls("TransactWriteItems")) == 3


def test_no_transaction_is_sent_after_the_deadline(owned: BatchClient, recorder: Recorder) -> None:
    with pytest.raises(DeadlineExceededError):
        owned.transact_write([move("d-1", "u-1", "u-5")], deadline_at=time.monotonic() - 1)
    with pytest.raises(DeadlineExceededError):
        owned.transact_get(
            [TransactGet("devices", {"deviceId": "d-1"})], deadline_at=time.monotonic() - 1
        )

    assert recorder.calls("TransactWriteItems") == recorder.calls("TransactGetItems") == []


def test_a_transaction_backoff_never_runs_past_the_deadline(ddb: Any, recorder: Recorder) -> None:
    recorder.errors = [("TransactWriteItems", "ThrottlingException")] * 20
    slept: list[float] = []
    slow = RetryPolicy(max_attempts=10, base_delay=30.0, max_delay=30.0)
    with BatchClient(ddb, retry=slow) as batch, pytest.raises(DeadlineExceededError) as caught:
        transact_write(
            batch.context,
            [move("d-1", "u-1", "u-5")],
            None,
            True,
            deadline_at=time.monotonic() + 0.5,
            sleep=slept.append,
        )

    assert sum(slept) < 0.5
    assert caught.value.attempts == len(recorder.calls("TransactWriteItems")) < 10
