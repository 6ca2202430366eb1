"""POST /devices/{deviceId}/transfer, driven through the handler with HTTP API v2 events."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import quote

import pytest
from dynabatch import BatchClient
from fleet.handlers import loader, transfer
from fleet.runtime import get_runtime
from fleet.transfer import MAX_DEVICES_PER_USER, MAX_ID_LENGTH

from tests.support.handlers import (
    TABLE_NAMES,
    FakeContext,
    answer,
    list_event,
    seed,
    throttle,
    transfer_event,
)


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return answer(transfer.handler(event, FakeContext()))


def move(device_id: str, frm: str, to: str, key: str | None = None) -> tuple[int, dict[str, Any]]:
    return call(transfer_event(device_id, {"fromUserId": frm, "toUserId": to}, caller=frm, key=key))


def owners(batch: BatchClient) -> tuple[dict[str, set[str]], dict[str, str]]:
    """Every user's device set, and every device's ownerId, read consistently."""
    users = batch.scan(TABLE_NAMES["users"], consistent_read=True)
    devices = batch.scan(TABLE_NAMES["devices"], consistent_read=True)
    return (
        {u["userId"]: set(u.get("devices") or ()) for u in users},
        {d["deviceId"]: d["ownerId"] for d in devices},
    )


def assert_exact(batch: BatchClient) -> None:
    """Every device is in exactly one owner's set, the one its ownerId names."""
    sets, owner_of = owners(batch)
    for device_id, owner in owner_of.items():
        holders = [user for user, devices in sets.items() if device_id in devices]
        assert holders == [owner], f"{device_id} owned by {owner} but held by {holders}"


def test_transfer_moves_the_device_between_the_sets(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1", "dev-2"], "user-0002": ["dev-3"]})

    status, body = move("dev-1", "user-0001", "user-0002")

    assert status == 200
    assert body == {"deviceId": "dev-1", "ownerId": "user-0002", "previousOwnerId": "user-0001"}
    sets, owner_of = owners(batch)
    assert sets == {"user-0001": {"dev-2"}, "user-0002": {"dev-1", "dev-3"}}
    assert owner_of["dev-1"] == "user-0002"


def test_giving_away_the_last_device_and_receiving_a_first_one(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1"], "user-0002": []})

    status, _ = move("dev-1", "user-0001", "user-0002")

    assert status == 200
    assert owners(batch)[0] == {"user-0001": set(), "user-0002": {"dev-1"}}


def test_the_moved_device_is_dropped_from_the_cache(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1"], "user-0002": []})
    loader.handler(list_event("user-0001"), FakeContext())  # caches dev-1
    assert get_runtime().cache.get_many(["dev-1"])

    move("dev-1", "user-0001", "user-0002")

    assert get_runtime().cache.get_many(["dev-1"]) == {}
    status, body = answer(loader.handler(list_event("user-0002"), FakeContext()))
    assert status == 200 and body["devices"][0]["ownerId"] == "user-0002"


def test_a_device_not_owned_by_from_user_is_409(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1"], "user-0002": ["dev-2"], "user-0003": []})

    status, body = move("dev-2", "user-0001", "user-0003")

    assert status == 409
    assert body["error"]["code"] == "NotOwner"
    assert_exact(batch)


def test_unknown_receiving_user_is_404_for_the_owner_and_nothing_changes(
    batch: BatchClient,
) -> None:
    seed(batch, {"user-0001": ["dev-1"]})

    status, body = move("dev-1", "user-0001", "user-0404")

    assert (status, body["error"]["code"]) == (404, "UserNotFound")
    assert "user-0404" in body["error"]["message"]
    assert owners(batch) == ({"user-0001": {"dev-1"}}, {"dev-1": "user-0001"})


def test_a_non_owner_learns_nothing_about_which_devices_and_users_exist(
    batch: BatchClient,
) -> None:
    seed(batch, {"user-0001": ["dev-1"], "user-0002": ["dev-2"], "user-0003": []})
    probes = [
        ("dev-2", "user-0003"),  # someone else's device, a real receiver
        ("dev-2", "user-0404"),  # someone else's device, no such receiver
        ("dev-404", "user-0003"),  # no such device
        ("dev-404", "user-0404"),  # neither
    ]

    answers = {
        (device_id, to): call(
            transfer_event(
                device_id, {"fromUserId": "user-0001", "toUserId": to}, caller="user-0001"
            )
        )
        for device_id, to in probes
    }
    # A caller who is not a user at all learns the same.
    ghost = call(
        transfer_event(
            "dev-2", {"fromUserId": "user-0999", "toUserId": "user-0003"}, caller="user-0999"
        )
    )

    assert {(status, body["error"]["code"]) for status, body in answers.values()} == {
        (409, "NotOwner")
    }
    # The message names only what the caller sent, the same way each time.
    messages = {body["error"]["message"].replace(d, "D") for (d, _), (_, body) in answers.items()}
    assert messages == {"device 'D' is not owned by 'user-0001'"}
    assert (ghost[0], ghost[1]["error"]["code"]) == (409, "NotOwner")
    assert_exact(batch)


def worst_case_ids(count: int) -> list[str]:
    """Distinct device ids of the longest kind: MAX_ID_LENGTH characters of 4 UTF-8 bytes."""
    return [chr(0x1F000 + n) + "\U0001f4a1" * (MAX_ID_LENGTH - 1) for n in range(count)]


def test_a_user_at_the_device_limit_cannot_receive_one_more(batch: BatchClient) -> None:
    full = worst_case_ids(MAX_DEVICES_PER_USER)
    assert all(len(d.encode()) == 4 * MAX_ID_LENGTH for d in full)
    # The limit fits one users item: the batch layer refuses an item over 400 KB, as DynamoDB.
    seed(batch, {"user-0001": ["dev-1"], "user-0002": full})
    given_away = full[0]

    status, body = move("dev-1", "user-0001", "user-0002")

    assert (status, body["error"]["code"]) == (409, "DeviceLimitReached")
    assert str(MAX_DEVICES_PER_USER) in body["error"]["message"]
    sets, owner_of = owners(batch)
    assert owner_of["dev-1"] == "user-0001" and len(sets["user-0002"]) == MAX_DEVICES_PER_USER
    # Once they give one away, there is room again.
    assert move(quote(given_away), "user-0002", "user-0001")[0] == 200  # as API Gateway sends it
    assert move("dev-1", "user-0001", "user-0002")[0] == 200
    assert_exact(batch)


def test_only_the_owner_may_transfer(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1"], "user-0002": []})
    event = transfer_event(
        "dev-1", {"fromUserId": "user-0001", "toUserId": "user-0002"}, caller="user-0002"
    )

    status, body = call(event)

    assert (status, body["error"]["code"]) == (403, "NotYourDevice")
    assert owners(batch)[1] == {"dev-1": "user-0001"}


def test_no_caller_is_401(aws: Any) -> None:
    event = transfer_event("dev-1", {"fromUserId": "a", "toUserId": "b"}, caller=None)

    assert call(event)[0] == 401


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "InvalidJson"),
        ("", 400, "InvalidBody"),
        ("[1, 2]", 400, "InvalidBody"),
        ('"user-0002"', 400, "InvalidBody"),
        ('{"fromUserId": "user-0001"}', 400, "MissingField"),
        ('{"toUserId": "user-0002"}', 400, "MissingField"),
        ('{"fromUserId": "user-0001", "toUserId": 7}', 400, "InvalidField"),
        ('{"fromUserId": "user-0001", "toUserId": ""}', 400, "InvalidField"),
        ('{"fromUserId": "user-0001", "toUserId": null}', 400, "InvalidField"),
        ('{"fromUserId": "user-0001", "toUserId": ["user-0002"]}', 400, "InvalidField"),
        ('{"fromUserId": "user-0001", "toUserId": "a b"}', 400, "InvalidField"),
        ('{"fromUserId": "user-0001", "toUserId": "user-0002\\n"}', 400, "InvalidField"),
        ('{"fromUserId": "user-0001", "toUserId": "user-0002", "x": 1}', 400, "UnknownField"),
        ('{"fromUserId": "user-0001", "toUserId": "user-0001"}', 400, "SameOwner"),
        ("[" * 100_000, 413, "PayloadTooLarge"),
        (json.dumps({"fromUserId": "user-0001", "toUserId": "u" * 20_000}), 413, "PayloadTooLarge"),
        ("[" * 5000 + "]" * 5000, 400, "InvalidJson"),  # too deep to parse safely
    ],
)
def test_bad_bodies_are_refused_with_a_code(
    batch: BatchClient, body: str, status: int, code: str
) -> None:
    seed(batch, {"user-0001": ["dev-1"], "user-0002": []})

    answer_status, answer_body = call(transfer_event("dev-1", body, caller="user-0001", raw=True))

    assert (answer_status, answer_body["error"]["code"]) == (status, code)
    assert "Traceback" not in answer_body["error"]["message"]
    assert owners(batch)[1] == {"dev-1": "user-0001"}


def test_a_base64_body_is_read_and_broken_base64_is_400(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1"], "user-0002": []})
    event = transfer_event(
        "dev-1", {"fromUserId": "user-0001", "toUserId": "user-0002"}, caller="user-0001"
    )
    broken = dict(event, body="***", isBase64Encoded=True)
    import base64

    good = dict(event, body=base64.b64encode(event["body"].encode()).decode(), isBase64Encoded=True)

    assert call(broken)[1]["error"]["code"] == "InvalidBody"
    assert call(good)[0] == 200


def test_a_replay_with_the_same_key_returns_the_first_result(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1"], "user-0002": []})

    first = move("dev-1", "user-0001", "user-0002", key="k-1")
    again = move("dev-1", "user-0001", "user-0002", key="k-1")
    without_key = move("dev-1", "user-0001", "user-0002")

    assert first == again == (200, first[1])
    assert without_key[0] == 409  # the device really did move once
    assert_exact(batch)


def test_a_key_reused_with_another_body_is_422(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1", "dev-2"], "user-0002": [], "user-0003": []})
    assert move("dev-1", "user-0001", "user-0002", key="k-1")[0] == 200

    status, body = move("dev-1", "user-0001", "user-0003", key="k-1")
    other_device = move("dev-2", "user-0001", "user-0002", key="k-1")

    assert (status, body["error"]["code"]) == (422, "IdempotencyKeyReused")
    assert other_device[1]["error"]["code"] == "IdempotencyKeyReused"
    assert owners(batch)[1] == {"dev-1": "user-0002", "dev-2": "user-0001"}


def test_a_failed_transfer_is_not_replayed(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1"]})
    assert move("dev-1", "user-0001", "user-0002", key="k-9")[0] == 404
    seed(batch, {"user-0002": []})  # the receiver now exists

    assert move("dev-1", "user-0001", "user-0002", key="k-9")[0] == 200


@pytest.mark.parametrize("key", ["x" * 300, "", "k-1\n", "k 1"])
def test_a_malformed_idempotency_key_is_400(batch: BatchClient, key: str) -> None:
    seed(batch, {"user-0001": ["dev-1"], "user-0002": []})

    status, body = move("dev-1", "user-0001", "user-0002", key=key)

    assert (status, body["error"]["code"]) == (400, "InvalidIdempotencyKey")
    assert owners(batch)[1] == {"dev-1": "user-0001"}


def test_a_device_id_with_a_trailing_newline_is_400(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1"], "user-0002": []})

    status, body = move("dev-1%0A", "user-0001", "user-0002")  # as API Gateway passes it

    assert (status, body["error"]["code"]) == (400, "InvalidField")


def test_throttling_past_the_budget_is_503_and_nothing_moves(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1"], "user-0002": []})
    throttle(get_runtime().client, "TransactWriteItems")

    response = transfer.handler(
        transfer_event(
            "dev-1", {"fromUserId": "user-0001", "toUserId": "user-0002"}, caller="user-0001"
        ),
        FakeContext(),
    )

    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"
    assert owners(batch)[1] == {"dev-1": "user-0001"}


def serialize_transactions(client: Any) -> None:
    """Give moto the isolation DynamoDB has: moto applies a transaction's actions one by one
    with no lock, so two threads could interleave inside one transaction. DynamoDB never
    lets that happen; this lock restores that guarantee and nothing else."""
    lock = threading.Lock()

    def enter(**_: Any) -> None:
        lock.acquire()

    def leave(**_: Any) -> None:
        lock.release()

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", enter)
    client.meta.events.register("after-call.dynamodb.TransactWriteItems", leave)
    client.meta.events.register("after-call-error.dynamodb.TransactWriteItems", leave)


def test_concurrent_transfers_of_one_device_exactly_one_wins(batch: BatchClient) -> None:
    receivers = [f"user-01{n:02d}" for n in range(6)]
    seed(batch, {"user-0001": ["dev-1"], **{r: [] for r in receivers}})
    serialize_transactions(get_runtime().client)
    results: list[int] = []
    start = threading.Barrier(len(receivers))

    def attempt(receiver: str) -> None:
        start.wait()
        results.append(move("dev-1", "user-0001", receiver)[0])

    threads = [threading.Thread(target=attempt, args=(r,)) for r in receivers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [200] + [409] * (len(receivers) - 1)
    assert_exact(batch)


def test_a_second_request_with_a_key_in_progress_is_409(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1"], "user-0002": []})
    client = get_runtime().client
    inside, release = threading.Event(), threading.Event()

    def hold(**_: Any) -> None:
        inside.set()
        release.wait(timeout=10)

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", hold)
    first: list[tuple[int, dict[str, Any]]] = []
    thread = threading.Thread(
        target=lambda: first.append(move("dev-1", "user-0001", "user-0002", key="k-slow"))
    )
    thread.start()
    assert inside.wait(timeout=10)

    status, body = move("dev-1", "user-0001", "user-0002", key="k-slow")
    release.set()
    thread.join()

    assert (status, body["error"]["code"]) == (409, "RequestInProgress")
    assert first[0][0] == 200
    assert move("dev-1", "user-0001", "user-0002", key="k-slow") == first[0]


def test_batch_layer_metrics_land_in_the_functions_namespace(
    batch: BatchClient, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(batch, {"user-0001": ["dev-1"], "user-0002": []})
    capsys.readouterr()

    move("dev-1", "user-0001", "user-0002")

    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {
        (directive["Namespace"], metric["Name"])
        for blob in blobs
        for directive in blob["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    assert ("DeviceFleet", "TransactWriteItemsRequests") in names
    assert ("DeviceFleet", "DevicesTransferred") in names


def test_an_invocation_out_of_time_answers_503_and_nothing_moves(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1"], "user-0002": []})
    sent: list[str] = []
    get_runtime().client.meta.events.register(
        "before-call.dynamodb.TransactWriteItems", lambda **_: sent.append("sent")
    )

    response = transfer.handler(
        transfer_event(
            "dev-1", {"fromUserId": "user-0001", "toUserId": "user-0002"}, caller="user-0001"
        ),
        FakeContext(timeout_seconds=0.5),
    )

    assert response["statusCode"] == 503
    assert sent == []
    assert owners(batch)[1] == {"dev-1": "user-0001"}


def test_idempotency_records_are_written_with_botocore_retries_on(batch: BatchClient) -> None:
    # Powertools writes the idempotency record itself, outside the batch layer, so its
    # client keeps botocore's retries; the batch layer's client has them off (it retries
    # itself, within its budget and deadline).
    runtime = get_runtime()

    assert runtime.retrying_client().meta.config.retries["total_max_attempts"] == 3
    assert runtime.client.meta.config.retries["total_max_attempts"] == 1
