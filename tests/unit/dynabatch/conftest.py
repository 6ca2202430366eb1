from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from dynabatch import BatchClient, RetryPolicy
from moto import mock_aws

from tests.support.recorder import Recorder
from tests.support.tables import create_test_tables

#: Fast retries: tests exercise the budget, not the wall clock.
FAST = RetryPolicy(max_attempts=5, base_delay=0.001, max_delay=0.005)

KEYS = {"devices": ("deviceId",), "readings": ("deviceId", "at")}

#: Every BatchClient of these tests runs on each wire (DYNABATCH_WIRE), except in the
#: modules that test the codec, serde and transport on their own.
WIRES = ("lean", "botocore")
_ONE_WIRE = {"test_codec", "test_serde", "test_wire", "test_connections", "test_multiplexed"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if "wire_mode" in metafunc.fixturenames and module not in _ONE_WIRE:
        metafunc.parametrize("wire_mode", WIRES, indirect=True)


@pytest.fixture(autouse=True)
def wire_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The wire mode every BatchClient built without ``wire=`` uses in this test."""
    mode: str = getattr(request, "param", "lean")
    monkeypatch.setenv("DYNABATCH_WIRE", mode)
    return mode


@pytest.fixture
def ddb() -> Iterator[Any]:
    with mock_aws():
        # botocore retries nothing: the layer retries (as make_client sets it up), and
        # injected throttles reach the layer the same way on both wires.
        client = boto3.client(
            "dynamodb",
            config=Config(max_pool_connections=32, retries={"total_max_attempts": 1}),
        )
        create_test_tables(client)
        yield client


@pytest.fixture
def recorder(ddb: Any) -> Recorder:
    return Recorder(ddb)


@pytest.fixture
def batch(ddb: Any, recorder: Recorder) -> Iterator[BatchClient]:
    with BatchClient(ddb, concurrency=8, retry=FAST, key_schemas=KEYS) as client:
        yield client


def stored(client: Any, table: str) -> list[dict[str, Any]]:
    """Every item in ``table`` (plain Python), read around the subject with boto3's resource."""
    resource = boto3.resource("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = resource.Table(table).scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
