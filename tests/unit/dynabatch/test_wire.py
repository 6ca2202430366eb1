"""The lean transport against botocore's client: same answers, same errors, same settings.

Every comparison sends the same work both ways against moto in process (which answers at
botocore's ``before-send`` event, so the wire path must emit it too). Faults come from
``before-send`` hooks, the same event moto uses; a real socket checks keep-alive.
"""

from __future__ import annotations

import datetime
import json
import threading
import zlib
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.credentials import CredentialProvider, Credentials, RefreshableCredentials
from botocore.exceptions import ChecksumError, ClientError
from dynabatch import codec, serde
from dynabatch.wire import WireClient
from moto import mock_aws

from tests.support.tables import create_test_tables

TABLES = ("devices", "mirror")
DEVICES = [
    {
        "deviceId": f"d-{i:03}",
        "n": i,
        "temp": Decimal("21.5") + i,
        "blob": bytes([i, 255 - i]),
        "tags": {"a", f"t{i}"},
        "doc": {"nested": [1, "x", None, True, b"\x00"]},
    }
    for i in range(30)
]


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def canned(status: int, body: bytes, crc: int | None = None) -> AWSResponse:
    """A response as a ``before-send`` hook returns one (moto does the same)."""
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    headers["x-amz-crc32"] = str(zlib.crc32(body) if crc is None else crc)
    return AWSResponse("https://dynamodb.us-east-1.amazonaws.com/", status, headers, _Raw(body))


@pytest.fixture
def ddb() -> Iterator[Any]:
    with mock_aws():
        # One attempt: the comparisons are about one response's handling, not retries.
        client = boto3.client(
            "dynamodb", config=Config(retries={"mode": "standard", "total_max_attempts": 1})
        )
        create_test_tables(client, TABLES)
        yield client


@pytest.fixture
def wire(ddb: Any) -> WireClient:
    return WireClient(ddb, max_pool_connections=16)


def without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def put_body(table: str, items: list[dict[str, Any]]) -> str:
    pairs = [("PutRequest", codec.encode_item(item)[0]) for item in items]
    return codec.batch_write_body({table: pairs}, return_consumed_capacity="TOTAL")


def scan_all(client: Any, table: str) -> list[dict[str, Any]]:
    items = client.scan(TableName=table)["Items"]
    return sorted((serde.deserialize_item(i) for i in items), key=lambda i: i["deviceId"])


def test_batch_write_through_the_wire_stores_what_botocore_stores(ddb: Any, wire: Any) -> None:
    by_wire = wire.call("BatchWriteItem", put_body("devices", DEVICES[:25]))
    by_botocore = ddb.batch_write_item(
        RequestItems={
            "mirror": [{"PutRequest": {"Item": serde.serialize_item(d)}} for d in DEVICES[:25]]
        },
        ReturnConsumedCapacity="TOTAL",
    )
    assert by_wire["UnprocessedItems"] == by_botocore["UnprocessedItems"] == {}
    assert [c["CapacityUnits"] for c in by_wire["ConsumedCapacity"]] == [
        c["CapacityUnits"] for c in by_botocore["ConsumedCapacity"]
    ]
    assert scan_all(ddb, "devices") == scan_all(ddb, "mirror") == DEVICES[:25]


def test_batch_get_through_the_wire_returns_what_botocore_returns(ddb: Any, wire: Any) -> None:
    wire.call("BatchWriteItem", put_body("devices", DEVICES[:25]))
    keys = [{"deviceId": d["deviceId"]} for d in DEVICES[:25]] + [{"deviceId": "absent"}]
    by_wire = wire.call(
        "BatchGetItem", codec.batch_get_body({"devices": [codec.encode_item(k)[0] for k in keys]})
    )
    by_botocore = ddb.batch_get_item(
        RequestItems={"devices": {"Keys": [serde.serialize_item(k) for k in keys]}}
    )

    def ordered(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(items, key=lambda i: str(i["deviceId"]))

    wire_items = by_wire["Responses"]["devices"]
    assert ordered(codec.decode_items(wire_items)) == DEVICES[:25]
    assert ordered([codec.wire_to_botocore(i) for i in wire_items]) == ordered(
        by_botocore["Responses"]["devices"]
    )
    assert by_wire["UnprocessedKeys"] == by_botocore["UnprocessedKeys"] == {}


def test_query_pages_through_the_wire_match_botocore_last_key_included(ddb: Any, wire: Any) -> None:
    readings = [
        {"deviceId": "d-1", "at": at, "v": Decimal(at) / 4, "raw": b"\x07"} for at in range(5)
    ]
    wire.call("BatchWriteItem", put_body("readings", readings))
    params = {
        "TableName": "readings",
        "KeyConditionExpression": "deviceId = :d AND #at >= :from",
        "ExpressionAttributeNames": {"#at": "at"},
        "ExpressionAttributeValues": {":d": {"S": "d-1"}, ":from": {"N": "1"}},
        "Limit": 2,
    }
    by_wire = wire.call("Query", json.dumps(params))
    by_botocore = ddb.query(**params)
    assert [codec.wire_to_botocore(i) for i in by_wire["Items"]] == by_botocore["Items"]
    assert codec.wire_to_botocore(by_wire["LastEvaluatedKey"]) == by_botocore["LastEvaluatedKey"]
    assert codec.decode_items(by_wire["Items"]) == readings[1:3]
    assert (by_wire["Count"], by_wire["ScannedCount"]) == (2, 2)


def both_errors(ddb: Any, wire: Any, operation: str, params: dict[str, Any]) -> tuple[Any, Any]:
    method = getattr(ddb, botocore.xform_name(operation))
    with pytest.raises(ClientError) as botocore_error:
        method(**params)
    with pytest.raises(ClientError) as wire_error:
        wire.call(operation, json.dumps(params))
    return botocore_error.value, wire_error.value


def assert_same_error(botocore_error: Any, wire_error: Any) -> None:
    assert type(wire_error) is type(botocore_error)
    assert wire_error.operation_name == botocore_error.operation_name
    assert wire_error.response["Error"] == botocore_error.response["Error"]
    assert without_metadata(wire_error.response) == without_metadata(botocore_error.response)
    # botocore's text adds "(reached max retries: 0)"; the wire path retries nothing itself.
    assert str(wire_error).endswith(str(botocore_error).rsplit(":", 1)[1])


def test_an_error_from_moto_is_the_same_client_error(ddb: Any, wire: Any) -> None:
    params = {"RequestItems": {"nope": {"Keys": [{"deviceId": {"S": "x"}}]}}}
    botocore_error, wire_error = both_errors(ddb, wire, "BatchGetItem", params)
    assert wire_error.response["Error"]["Code"] == "ResourceNotFoundException"
    assert_same_error(botocore_error, wire_error)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (
            400,
            b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",'
            b'"message":"slow down"}',
        ),
        (400, b'{"__type":"com.amazon.coral.availability#ThrottlingException","message":"busy"}'),
        (400, b'{"__type":"com.amazonaws.dynamodb.v20120810#RequestLimitExceeded","message":"x"}'),
        (
            500,
            b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"oops"}',
        ),
        (503, b"<html><body>Service Unavailable</body></html>"),
        (
            400,
            b'{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException",'
            b'"Message":"cancelled","CancellationReasons":[{"Code":"None"},'
            b'{"Code":"ConditionalCheckFailed","Item":{"b":{"B":"AAE="}},"Message":"no"}]}',
        ),
    ],
)
def test_injected_error_responses_become_the_same_client_errors(
    ddb: Any, wire: Any, status: int, body: bytes
) -> None:
    ddb.meta.events.register("before-send.dynamodb.*", lambda **_: canned(status, body))
    params = {"RequestItems": {"devices": {"Keys": [{"deviceId": {"S": "x"}}]}}}
    assert_same_error(*both_errors(ddb, wire, "BatchGetItem", params))


def test_a_body_that_does_not_match_its_crc32_is_refused(ddb: Any, wire: Any) -> None:
    body = b'{"Responses":{"devices":[]},"UnprocessedKeys":{}}'
    ddb.meta.events.register(
        "before-send.dynamodb.BatchGetItem", lambda **_: canned(200, body, crc=zlib.crc32(body) ^ 1)
    )
    with pytest.raises(ChecksumError, match="crc32"):
        wire.call("BatchGetItem", codec.batch_get_body({"devices": ['{"deviceId":{"S":"x"}}']}))


def test_a_body_that_matches_its_crc32_is_returned(ddb: Any, wire: Any) -> None:
    body = b'{"Responses":{"devices":[{"b":{"B":"AAE="}}]},"UnprocessedKeys":{}}'
    ddb.meta.events.register("before-send.dynamodb.BatchGetItem", lambda **_: canned(200, body))
    got = wire.call("BatchGetItem", codec.batch_get_body({"devices": ['{"b":{"B":"AAE="}}']}))
    assert codec.decode_items(got["Responses"]["devices"]) == [{"b": b"\x00\x01"}]


def test_unknown_operations_are_refused_before_sending(wire: Any) -> None:
    with pytest.raises(ValueError, match="BatchPutItem"):
        wire.call("BatchPutItem", "{}")


class _Sent:
    """Records what reaches ``before-send`` and lets it through."""

    def __init__(self, client: Any) -> None:
        self.requests: list[Any] = []
        client.meta.events.register("before-send.dynamodb.*", self)

    def __call__(self, request: Any, **_: Any) -> None:
        self.requests.append(request)

    def header(self, index: int, name: str) -> str:
        value = self.requests[index].headers[name]
        return value.decode() if isinstance(value, bytes) else str(value)


def test_endpoint_region_and_user_agent_are_the_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:1")
    client = boto3.client("dynamodb", region_name="eu-west-3")
    sent = _Sent(client)
    client.meta.events.register(
        "before-send.dynamodb.*", lambda **_: canned(200, b'{"TableNames":[]}')
    )
    assert client.list_tables() is not None
    assert WireClient(client).call("ListTables", "{}") == {"TableNames": []}
    botocore_request, wire_request = sent.requests
    assert wire_request.url == botocore_request.url == "http://127.0.0.1:1/"
    for header in ("X-Amz-Target", "Content-Type"):
        assert sent.header(1, header) == sent.header(0, header)
    assert "/eu-west-3/dynamodb/aws4_request" in sent.header(1, "Authorization")
    # botocore adds per-request feature ids ("m/..."); the rest is the same string.
    assert (
        sent.header(1, "User-Agent").split(" m/")[0] == sent.header(0, "User-Agent").split(" m/")[0]
    )


class _Rotating(CredentialProvider):  # type: ignore[misc]
    """Credentials always about to expire, so botocore refreshes them on every use."""

    METHOD = "rotating-test"

    def __init__(self) -> None:
        self.refreshes = 0

    def _refresh(self) -> dict[str, str]:
        self.refreshes += 1
        # Inside botocore's mandatory refresh window (10 minutes) but not yet expired.
        expired = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
        return {
            "access_key": f"AKIDROTATED{self.refreshes}",
            "secret_key": "secret",
            "token": f"token-{self.refreshes}",
            "expiry_time": expired.isoformat(),
        }

    def load(self) -> RefreshableCredentials:
        return RefreshableCredentials.create_from_metadata(
            self._refresh(), self._refresh, self.METHOD
        )


def test_refreshing_credentials_are_read_again_on_every_call() -> None:
    session = botocore.session.get_session()
    provider = _Rotating()
    session.get_component("credential_provider").insert_before("env", provider)
    client = session.create_client("dynamodb", region_name="us-east-1")
    sent = _Sent(client)
    client.meta.events.register(
        "before-send.dynamodb.*", lambda **_: canned(200, b'{"TableNames":[]}')
    )
    wire = WireClient(client)
    wire.call("ListTables", "{}")
    wire.call("ListTables", "{}")
    first, second = (sent.header(i, "Authorization") for i in (0, 1))
    assert "Credential=AKIDROTATED" in first and "Credential=AKIDROTATED" in second
    assert (
        first.split("Credential=")[1].split("/")[0] != second.split("Credential=")[1].split("/")[0]
    )
    assert sent.header(1, "X-Amz-Security-Token").startswith("token-")


class _KeepAliveServer(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"TableNames":["devices"]}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amz-crc32", str(zlib.crc32(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


def test_a_real_socket_is_kept_alive_across_calls_and_pool_fits_concurrency() -> None:
    server = _KeepAliveServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        client = boto3.client("dynamodb", endpoint_url=url)
        wire = WireClient(client, max_pool_connections=32)
        assert wire.max_pool_connections == 32
        for _ in range(5):
            assert wire.call("ListTables", "{}") == {"TableNames": ["devices"]}
        assert server.connections == 1
        wire.close()
    finally:
        server.shutdown()
        server.server_close()


def test_canary_botocore_still_offers_what_the_wire_path_relies_on(ddb: Any) -> None:
    """Fails loudly when a botocore upgrade moves a piece the wire path uses.

    If this fails, read dynabatch/wire.py's module docstring before changing the pin.
    """
    model = ddb.meta.service_model
    assert (model.protocol, model.metadata["jsonVersion"]) == ("json", "1.0")
    assert model.metadata["targetPrefix"] == "DynamoDB_20120810"
    assert model.signing_name == "dynamodb"
    assert model.service_id.hyphenize() == "dynamodb"
    credentials = ddb._get_credentials()
    assert isinstance(credentials.get_frozen_credentials().access_key, str)
    assert isinstance(credentials, Credentials)
    assert ddb._user_agent_creator.to_string().startswith("Boto3/")
    # The event botocore's endpoint emits, with the request a hook may answer for.
    seen: list[str] = []

    def hook(event_name: str, request: Any, **_: Any) -> AWSResponse:
        seen.append(event_name)
        return canned(200, b'{"TableNames":[]}')

    ddb.meta.events.register("before-send", hook)
    ddb.list_tables()
    WireClient(ddb).call("ListTables", "{}")
    assert seen == ["before-send.dynamodb.ListTables"] * 2


def test_before_call_and_after_call_hooks_see_the_lean_path(ddb: Any, wire: Any) -> None:
    # Hooks written for the client's methods (counting calls, canned throttles, looking
    # at a response) keep working when the layer sends over the lean wire.
    sent: list[str] = []
    after: list[tuple[str, int, dict[str, Any]]] = []
    ddb.meta.events.register("before-send.dynamodb", lambda **_: sent.append("sent"))
    ddb.meta.events.register(
        "after-call.dynamodb",
        lambda model, http_response, parsed, **_: after.append(
            (model.name, http_response.status_code, parsed)
        ),
    )
    throttled = {
        "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    answer = [(AWSResponse("http://x", 400, {}, None), throttled)]
    ddb.meta.events.register("before-call.dynamodb", lambda **_: answer.pop() if answer else None)
    body = codec.batch_get_body({"devices": ['{"deviceId":{"S":"x"}}']})

    with pytest.raises(ClientError) as caught:
        wire.call("BatchGetItem", body)
    got = wire.call("BatchGetItem", body)

    assert caught.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert sent == ["sent"]  # the canned answer kept the first request from being sent
    assert [(name, status) for name, status, _ in after] == [
        ("BatchGetItem", 400),
        ("BatchGetItem", 200),
    ]
    assert after[1][2] is got and got["Responses"] == {"devices": []}


SIGNING_CASES = [
    ("https://dynamodb.us-east-1.amazonaws.com/", "us-east-1", None),
    ("https://dynamodb.eu-west-3.amazonaws.com", "eu-west-3", "FQoGZXIvYXdzE token  with  spaces"),
    ("http://127.0.0.1:8000/", "us-east-1", None),
    ("http://LocalHost:80/", "ap-south-1", "t"),
    ("https://[::1]:4566/", "us-west-2", None),
    ("https://vpce-1.dynamodb.us-east-1.vpce.amazonaws.com:443/", "us-east-1", None),
    ("http://proxy.internal/ddb/x/../api/", "us-east-1", "token"),
    ("http://127.0.0.1:9/?b=2&a=1&a-b=0", "us-east-1", None),
]


@pytest.mark.parametrize(("url", "region", "token"), SIGNING_CASES)
@pytest.mark.parametrize("body", [b"", b"{}", '{"RequestItems":{"d\u00e9vices":[]}}'.encode()])
def test_the_signer_signs_exactly_as_botocore_sigv4auth(
    monkeypatch: pytest.MonkeyPatch, url: str, region: str, token: str | None, body: bytes
) -> None:
    from botocore import auth
    from botocore.awsrequest import AWSRequest
    from dynabatch.wire import Signer

    moment = datetime.datetime(2026, 11, 28, 23, 59, 59)
    monkeypatch.setattr(auth, "get_current_datetime", lambda *_, **__: moment)
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    target = "DynamoDB_20120810.BatchWriteItem"
    content_type = "application/x-amz-json-1.0"
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"X-Amz-Target": target, "Content-Type": content_type, "User-Agent": "ua/1"},
    )
    frozen = credentials.get_frozen_credentials()
    auth.SigV4Auth(frozen, "dynamodb", region).add_auth(request)
    epoch = moment.replace(tzinfo=datetime.UTC).timestamp()
    signer = Signer(url, region, "dynamodb", clock=lambda: epoch)
    for _ in range(2):  # the second time from the cached signing key
        headers = signer.sign(frozen, target, content_type, body)
        assert headers["Authorization"] == request.headers["Authorization"]
        assert headers["X-Amz-Date"] == request.headers["X-Amz-Date"]
        assert headers.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")


def test_the_signing_key_follows_the_day_and_the_secret() -> None:
    from dynabatch.wire import Signer

    url = "https://dynamodb.us-east-1.amazonaws.com/"
    now = [datetime.datetime(2026, 11, 28, 23, 59, 59, tzinfo=datetime.UTC).timestamp()]
    signer = Signer(url, "us-east-1", "dynamodb", clock=lambda: now[0])

    def fresh(credentials: Any) -> str:
        # A signer with nothing cached signs the same request correctly.
        return Signer(url, "us-east-1", "dynamodb", clock=lambda: now[0]).sign(
            credentials, "T", "c", b"{}"
        )["Authorization"]

    first = Credentials("AKID", "secret-1").get_frozen_credentials()
    second = Credentials("AKID", "secret-2").get_frozen_credentials()
    assert signer.sign(first, "T", "c", b"{}")["Authorization"] == fresh(first)
    assert signer.sign(second, "T", "c", b"{}")["Authorization"] == fresh(second)
    now[0] += 1  # the next day: a new scope and a new key
    signed = signer.sign(second, "T", "c", b"{}")["Authorization"]
    assert "/20261129/us-east-1/dynamodb/aws4_request" in signed
    assert signed == fresh(second)
