"""Helpers and fixtures of the fleet and handlers tests: moto tables, contexts, AWS events.

The fixtures are re-exported by the ``conftest.py`` of tests/unit/fleet and tests/unit/handlers.

Events are built in the full shape AWS sends (API Gateway HTTP API payload 2.0 with a JWT
authorizer; EventBridge scheduled events), as in AWS's sample events.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from dynabatch import BatchClient
from fleet import cache as fleet_cache
from fleet.runtime import reset_runtime
from fleet.tables import ALL_TABLES
from moto import mock_aws

TABLE_NAMES = {t.logical_name: f"test-{t.logical_name}" for t in ALL_TABLES}


@dataclass
class FakeContext:
    """A LambdaContext with the attributes Powertools reads, and a clock for remaining time."""

    function_name: str = "device-fleet-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:device-fleet-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_seconds: float = 30.0
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The functions' environment: test table names, fake credentials, the embedded cache."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    values = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "CACHE_URL": f"memory://{uuid.uuid4().hex}",
        "CACHE_TTL_SECONDS": "300",
        "CALLER_CLAIM": "sub",
        "POWERTOOLS_SERVICE_NAME": "device-fleet-test",
        "POWERTOOLS_METRICS_NAMESPACE": "DeviceFleet",
    }
    values.update({t.env_var: TABLE_NAMES[t.logical_name] for t in ALL_TABLES})
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def aws(env: dict[str, str]) -> Iterator[Any]:
    """moto in process with the four tables created from fleet.tables; yields a client."""
    reset_runtime()
    with mock_aws():
        import boto3

        client = boto3.client("dynamodb", region_name="eu-west-1")
        for table in ALL_TABLES:
            client.create_table(**table.create_table_kwargs(TABLE_NAMES[table.logical_name]))
        yield client
        reset_runtime()
    fleet_cache._MEMORY_CACHES.clear()


@pytest.fixture
def batch(aws: Any) -> Iterator[BatchClient]:
    """A batch client for the tests' own setup and checks."""
    with BatchClient(
        aws, key_schemas={TABLE_NAMES[t.logical_name]: t.key_names() for t in ALL_TABLES}
    ) as client:
        yield client


def device(device_id: str, owner: str, **extra: Any) -> dict[str, Any]:
    """A device item as the demo data has them."""
    return {
        "deviceId": device_id,
        "ownerId": owner,
        "name": f"lamp {device_id}",
        "state": "on",
        "lastUpdate": "2026-11-23T20:00:00Z",
        **extra,
    }


def seed(batch: BatchClient, owners: dict[str, list[str]], **extra: Any) -> None:
    """Users owning the given devices (users with no device have no ``devices`` attribute)."""
    users = []
    devices = []
    for user_id, device_ids in owners.items():
        user: dict[str, Any] = {"userId": user_id, "name": user_id, "email": f"{user_id}@x.test"}
        if device_ids:
            user["devices"] = set(device_ids)
        users.append(user)
        devices.extend(device(d, user_id, **extra) for d in device_ids)
    batch.put_items(TABLE_NAMES["users"], users)
    if devices:
        batch.put_items(TABLE_NAMES["devices"], devices)


def http_event(
    method: str,
    path: str,
    route_key: str,
    *,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    caller: str | None = "user-0001",
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event with a JWT authorizer, as AWS sends it."""
    now = time.time()
    all_headers = {
        "accept": "application/json",
        "content-type": "application/json",
        "host": "abc123.execute-api.eu-west-1.amazonaws.com",
        "user-agent": "curl/8.5.0",
        "x-amzn-trace-id": "Root=1-65f0c0de-0123456789abcdef01234567",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    raw_body: str | None
    if body is None:
        raw_body = None
    elif base64_body:
        raw = body.encode() if isinstance(body, str) else body
        raw_body = base64.b64encode(raw).decode()
    else:
        raw_body = body if isinstance(body, str) else body.decode()
    query_string = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    authorizer = None
    if caller is not None:
        authorizer = {
            "jwt": {
                "claims": {
                    "sub": caller,
                    "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_example",
                    "token_use": "access",
                    "exp": str(int(now) + 3600),
                    "iat": str(int(now)),
                },
                "scopes": None,
            }
        }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query_string,
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": base64_body,
    }
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    if query:
        event["queryStringParameters"] = dict(query)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if raw_body is not None:
        event["body"] = raw_body
    return event


def list_event(user_id: str, *, caller: str | None = None, **query: str) -> dict[str, Any]:
    """``GET /users/{userId}/devices`` by ``caller`` (default: the user)."""
    return http_event(
        "GET",
        f"/users/{user_id}/devices",
        "GET /users/{userId}/devices",
        path_parameters={"userId": user_id},
        query=query or None,
        caller=user_id if caller is None else caller,
    )


def transfer_event(
    device_id: str,
    body: Any,
    *,
    caller: str | None,
    key: str | None = None,
    raw: bool = False,
) -> dict[str, Any]:
    """``POST /devices/{deviceId}/transfer``; ``body`` is JSON-encoded unless ``raw``."""
    headers = {"Idempotency-Key": key} if key is not None else None
    return http_event(
        "POST",
        f"/devices/{device_id}/transfer",
        "POST /devices/{deviceId}/transfer",
        path_parameters={"deviceId": device_id},
        body=body if raw else json.dumps(body),
        headers=headers,
        caller=caller,
    )


def scheduled_event(rule: str = "device-fleet-sweeper") -> dict[str, Any]:
    """An EventBridge scheduled event, as AWS's sample event has it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": "eu-west-1",
        "resources": [f"arn:aws:events:eu-west-1:123456789012:rule/{rule}"],
        "detail": {},
    }


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Status and parsed JSON body of a handler's answer."""
    return response["statusCode"], json.loads(response["body"])


def throttle(client: Any, operation: str, times: int | None = None) -> list[int]:
    """Throttle ``operation`` calls as DynamoDB would: every one, or the first ``times``.

    Returns a counter of the calls refused.
    """
    calls = [0]

    def refuse(**_: Any) -> tuple[Any, dict[str, Any]] | None:
        if times is not None and calls[0] >= times:
            return None  # let it through to moto
        calls[0] += 1
        error = {
            "Error": {
                "Code": "ProvisionedThroughputExceededException",
                "Message": "The level of configured provisioned throughput was exceeded.",
            },
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return _FakeHttp(400), error

    client.meta.events.register(f"before-call.dynamodb.{operation}", refuse)
    return calls


@dataclass
class _FakeHttp:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def resp_server() -> Iterator[str]:
    """A fakeredis TCP server (a real RESP peer) on a free port; its redis:// URL."""
    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", 0), server_type="redis")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"redis://{host}:{port}/0"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
