"""Property-based: any list of writes or keys in, every key stored exactly once, limits kept."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from dynabatch import MAX_GET_KEYS, MAX_WRITE_ITEMS, BatchClient, Delete, Put, item_size
from dynabatch.serde import key_identity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from tests.support.recorder import Recorder

from .conftest import FAST, KEYS, stored

# Few distinct keys, so duplicates are common; values of varying size.
key_ids = st.integers(min_value=0, max_value=40).map(lambda i: f"d-{i}")
values = st.one_of(st.integers(-(10**6), 10**6), st.text(max_size=300), st.binary(max_size=300))
ops = st.lists(
    st.one_of(
        st.builds(lambda k, v: Put("devices", {"deviceId": k, "v": v}), key_ids, values),
        st.builds(lambda k: Delete("devices", {"deviceId": k}), key_ids),
    ),
    max_size=120,
)


def fresh_table() -> Any:
    client = boto3.client(
        "dynamodb", config=Config(max_pool_connections=16, retries={"total_max_attempts": 1})
    )
    client.create_table(
        TableName="devices",
        KeySchema=[{"AttributeName": "deviceId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "deviceId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


def request_key(request: dict[str, Any]) -> Any:
    body = request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"]
    return key_identity({"deviceId": body["deviceId"]})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(writes=ops, max_bytes=st.integers(min_value=400, max_value=20_000), as_stream=st.booleans())
def test_any_writes_end_with_the_last_write_per_key_and_requests_within_limits(
    writes: list[Put | Delete], max_bytes: int, as_stream: bool
) -> None:
    with mock_aws():
        client = fresh_table()
        recorder = Recorder(client)
        with BatchClient(
            client, concurrency=4, retry=FAST, key_schemas=KEYS, max_request_bytes=max_bytes
        ) as batch:
            result = batch.write_items(iter(writes) if as_stream else writes)

        expected: dict[str, Any] = {}
        for op in writes:
            if isinstance(op, Put):
                expected[op.item["deviceId"]] = op.item["v"]
            else:
                expected.pop(op.key["deviceId"], None)
        assert result.complete
        assert {i["deviceId"]: i["v"] for i in stored(client, "devices")} == expected
        for params in recorder.calls("BatchWriteItem"):
            requests = params["RequestItems"]["devices"]
            assert len(requests) <= MAX_WRITE_ITEMS
            assert len({request_key(r) for r in requests}) == len(requests)
            sizes = [
                item_size(r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"])
                for r in requests
            ]
            assert sum(sizes) <= max_bytes or len(requests) == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    wanted=st.lists(st.integers(min_value=0, max_value=400), max_size=450),
    present=st.integers(0, 400),
)
def test_any_keys_are_each_read_once_and_every_one_answered(
    wanted: list[int], present: int
) -> None:
    with mock_aws():
        client = fresh_table()
        with BatchClient(client, concurrency=4, retry=FAST, key_schemas=KEYS) as batch:
            batch.put_items("devices", [{"deviceId": f"d-{i}"} for i in range(present)])
            recorder = Recorder(client)
            result = batch.get_items({"devices": [{"deviceId": f"d-{i}"} for i in wanted]})

        unique = list(dict.fromkeys(wanted))
        assert [i["deviceId"] for i in result.items.get("devices", [])] == [
            f"d-{i}" for i in unique if i < present
        ]
        assert [k["deviceId"] for k in result.missing.get("devices", [])] == [
            f"d-{i}" for i in unique if i >= present
        ]
        sent = [
            k for p in recorder.calls("BatchGetItem") for k in p["RequestItems"]["devices"]["Keys"]
        ]
        assert len(sent) == len(unique)
        assert all(
            len(p["RequestItems"]["devices"]["Keys"]) <= MAX_GET_KEYS
            for p in recorder.calls("BatchGetItem")
        )
