"""GET /users/{userId}/devices, driven through the handler with HTTP API v2 events."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from dynabatch import BatchClient
from fleet.devices import encode_cursor
from fleet.handlers import loader, transfer
from fleet.runtime import get_runtime

from tests.support.handlers import (
    TABLE_NAMES,
    FakeContext,
    answer,
    device,
    list_event,
    seed,
    throttle,
    transfer_event,
)


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return answer(loader.handler(event, FakeContext()))


def count_calls(client: Any) -> dict[str, int]:
    """Counts DynamoDB requests by operation, as they leave botocore."""
    counts: dict[str, int] = {}

    def seen(model: Any, **_: Any) -> None:
        counts[model.name] = counts.get(model.name, 0) + 1

    client.meta.events.register("before-call.dynamodb", seen)
    return counts


def test_lists_every_device_of_the_caller_with_two_round_trips(batch: BatchClient) -> None:
    ids = [f"dev-{n:03d}" for n in range(100)]
    seed(batch, {"user-0001": ids, "user-0002": ["dev-900"]})
    calls = count_calls(get_runtime().client)

    status, body = call(list_event("user-0001"))

    assert status == 200
    assert [d["deviceId"] for d in body["devices"]] == sorted(ids)
    assert body["devices"][0] == device("dev-000", "user-0001")
    assert body["count"] == 100
    assert body["missing"] == []
    assert body["nextCursor"] is None
    # One read of the user, one BatchGetItem round for the 100 devices.
    assert calls == {"BatchGetItem": 2}


def test_a_warm_cache_saves_the_device_reads(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1", "dev-2"]})
    call(list_event("user-0001"))
    calls = count_calls(get_runtime().client)

    status, body = call(list_event("user-0001"))

    assert status == 200 and body["count"] == 2
    assert calls == {"BatchGetItem": 1}  # the user only


def test_projection_keeps_the_asked_fields_and_the_id(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1"]}, battery=Decimal("87.5"))

    status, body = call(list_event("user-0001", fields="name,battery,nosuch"))

    assert status == 200
    assert body["devices"] == [{"deviceId": "dev-1", "name": "lamp dev-1", "battery": 87.5}]


def test_numbers_sets_and_binary_come_out_as_json_without_loss(batch: BatchClient) -> None:
    seed(
        batch,
        {"user-0001": ["dev-1"]},
        count=Decimal(42),
        ratio=Decimal("0.1"),
        serial=Decimal("12345678901234567890.000000000001"),
        tags={"b", "a"},
        blob=b"\x00\x01",
    )

    status, body = call(list_event("user-0001", fields="count,ratio,serial,tags,blob"))

    assert status == 200
    assert body["devices"][0] == {
        "deviceId": "dev-1",
        "count": 42,
        "ratio": 0.1,
        "serial": "12345678901234567890.000000000001",
        "tags": ["a", "b"],
        "blob": "AAE=",
    }


def test_pages_follow_next_cursor_to_the_end(batch: BatchClient) -> None:
    ids = [f"dev-{n:03d}" for n in range(25)]
    seed(batch, {"user-0001": ids})
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "10"} | ({"cursor": cursor} if cursor else {})
        status, body = call(list_event("user-0001", **query))
        assert status == 200
        seen += [d["deviceId"] for d in body["devices"]]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == ids
    assert pages == 3


def test_a_device_named_by_the_set_but_gone_is_reported_missing(
    batch: BatchClient,
) -> None:
    seed(batch, {"user-0001": ["dev-1", "dev-2"]})
    batch.delete_items(TABLE_NAMES["devices"], [{"deviceId": "dev-2"}])

    status, body = call(list_event("user-0001"))

    assert status == 200
    assert [d["deviceId"] for d in body["devices"]] == ["dev-1"]
    assert body["missing"] == ["dev-2"]
    assert body["count"] == 1


def test_a_user_without_devices_gets_an_empty_list(batch: BatchClient) -> None:
    seed(batch, {"user-0001": []})

    status, body = call(list_event("user-0001"))

    assert (status, body["devices"], body["nextCursor"]) == (200, [], None)


def test_unknown_user_is_404(aws: Any) -> None:
    status, body = call(list_event("user-0404"))

    assert status == 404
    assert body["error"]["code"] == "UserNotFound"


def test_another_callers_list_is_403(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1"], "user-0002": ["dev-2"]})

    status, body = call(list_event("user-0002", caller="user-0001"))

    assert status == 403
    assert body["error"]["code"] == "NotYourList"


def test_no_caller_identity_is_401(aws: Any) -> None:
    event = list_event("user-0001")
    del event["requestContext"]["authorizer"]

    status, body = call(event)

    assert status == 401
    assert body["error"]["code"] == "Unauthorized"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"limit": "0"}, "InvalidLimit"),
        ({"limit": "101"}, "InvalidLimit"),
        ({"limit": "ten"}, "InvalidLimit"),
        ({"limit": "-5"}, "InvalidLimit"),
        ({"fields": ""}, "InvalidFields"),
        ({"fields": "name,,state"}, "InvalidFields"),
        ({"fields": "name;drop"}, "InvalidFields"),
        ({"fields": ",".join(f"f{n}" for n in range(21))}, "InvalidFields"),
        ({"cursor": "not-a-cursor"}, "InvalidCursor"),
        ({"cursor": "eyJ1IjoidXNlci0wMDAxIiwibyI6LTF9"}, "InvalidCursor"),  # offset -1
        ({"cursor": "eyJ1IjoidXNlci0wMDAyIiwibyI6MX0"}, "InvalidCursor"),  # user-0002's
        ({"cursor": "x" * 600}, "InvalidCursor"),
        # "$" matches before a trailing newline: every check is a full match.
        ({"limit": "5\n"}, "InvalidLimit"),
        ({"fields": "name\n"}, "InvalidFields"),
        ({"fields": "name,\tstate"}, "InvalidFields"),
        ({"cursor": encode_cursor("user-0001", 1) + "\n"}, "InvalidCursor"),
        (
            {"cursor": encode_cursor("user-0001", 1)[:4] + " " + encode_cursor("user-0001", 1)[4:]},
            "InvalidCursor",
        ),
    ],
)
def test_bad_parameters_are_400_with_a_code(
    batch: BatchClient, query: dict[str, str], code: str
) -> None:
    seed(batch, {"user-0001": ["dev-1"]})

    status, body = call(list_event("user-0001", **query))

    assert status == 400
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_throttling_past_the_retry_budget_is_503_with_retry_after(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1"]})
    calls = throttle(get_runtime().client, "BatchGetItem")

    response = loader.handler(list_event("user-0001"), FakeContext())

    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"
    assert answer(response)[1]["error"]["code"] == "Throttled"
    assert calls[0] == get_runtime().batch("api").retry.max_attempts


def test_throttling_within_the_retry_budget_is_absorbed(batch: BatchClient) -> None:
    seed(batch, {"user-0001": ["dev-1", "dev-2"]})
    calls = throttle(get_runtime().client, "BatchGetItem", times=2)

    status, body = call(list_event("user-0001"))

    assert (status, body["count"], calls[0]) == (200, 2, 2)


def test_an_unknown_route_is_a_json_404(aws: Any) -> None:
    event = list_event("user-0001")
    event["rawPath"] = "/users/user-0001/gadgets"
    event["requestContext"]["http"]["path"] = "/users/user-0001/gadgets"

    status, body = call(event)

    assert status == 404
    assert body["error"]["code"] == "RouteNotFound"


def test_missing_table_setting_is_a_logged_500_without_trace(
    aws: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from fleet.runtime import reset_runtime

    monkeypatch.delenv("DEVICES_TABLE")
    reset_runtime()

    status, body = call(list_event("user-0001"))

    assert status == 500
    assert body == {"error": {"code": "InternalError", "message": "internal error"}}
    assert "DEVICES_TABLE" in caplog.text  # the operator sees why


@pytest.mark.parametrize("backend", ["memory", "valkey"])
def test_a_write_back_racing_a_transfer_never_caches_the_old_owner(
    batch: BatchClient,
    backend: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if backend == "valkey":
        monkeypatch.setenv("CACHE_URL", request.getfixturevalue("resp_server"))
    seed(batch, {"user-0001": ["dev-1"], "user-0002": []})
    client = get_runtime().client
    transfers: list[dict[str, Any]] = []

    def transfer_before_the_write_back(parsed: dict[str, Any], **_: Any) -> None:
        # The loader holds DynamoDB's answer for the devices and has not cached it yet:
        # exactly then, the device moves (and the transfer drops it from the cache).
        if TABLE_NAMES["devices"] in parsed.get("Responses", {}) and not transfers:
            body = {"fromUserId": "user-0001", "toUserId": "user-0002"}
            event = transfer_event("dev-1", body, caller="user-0001")
            transfers.append(transfer.handler(event, FakeContext()))

    client.meta.events.register("after-call.dynamodb.BatchGetItem", transfer_before_the_write_back)
    status, body = call(list_event("user-0001"))
    client.meta.events.unregister(
        "after-call.dynamodb.BatchGetItem", transfer_before_the_write_back
    )

    assert status == 200 and body["devices"][0]["ownerId"] == "user-0001"  # read before the move
    assert answer(transfers[0])[0] == 200
    status, body = call(list_event("user-0002"))
    assert status == 200
    assert [(d["deviceId"], d["ownerId"]) for d in body["devices"]] == [("dev-1", "user-0002")]


def test_an_invocation_out_of_time_answers_503_without_reading(batch: BatchClient) -> None:
    # Given an invocation with less time left than the margin kept to answer
    seed(batch, {"user-0001": ["dev-1"]})
    calls = count_calls(get_runtime().client)

    # When it lists devices
    response = loader.handler(list_event("user-0001"), FakeContext(timeout_seconds=0.5))

    # Then nothing is sent after the invocation's deadline, and the caller may retry
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"
    assert calls == {}
