"""Transactions: the token is passed, cancellations become typed, readable errors."""

from __future__ import annotations

import pytest
from boto3.dynamodb.conditions import Attr
from dynabatch import (
    BatchClient,
    ThrottledError,
    TransactCheck,
    TransactDelete,
    TransactGet,
    TransactionCancelledError,
    TransactPut,
    TransactUpdate,
)

from tests.support.recorder import Recorder


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
