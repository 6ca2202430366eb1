"""The lean wire's requests in flight on the caller's thread, over real sockets.

moto's server answers over HTTP on a free port; a wrapper around its batch handlers
counts how many requests it is serving at once and can make each one slow, the way a
distant endpoint is. These tests hold the multiplexed path to what the thread pool did:
up to ``concurrency`` requests at once (never more), every item written or read, a send-
only HTTP session still served by the pool, and an interrupt that does not wait for the
answers but reports each op as possibly applied.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from dynabatch import BatchClient
from moto.dynamodb.responses import DynamoHandler
from moto.moto_api._internal.models import moto_api_backend

from tests.support.motoserver import moto_server
from tests.support.tables import create_test_tables

from .conftest import FAST, KEYS


class Load:
    """Requests moto's server is serving at once, and a delay added to each."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.served = 0
        self.delay = 0.0

    def wrap(self, handler: Any) -> Any:
        def serving(this: Any) -> Any:
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
            try:
                if self.delay:
                    time.sleep(self.delay)
                return handler(this)
            finally:
                with self.lock:
                    self.now -= 1
                    self.served += 1

        return serving


@pytest.fixture
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        try:
            yield url
        finally:
            # The server keeps its tables in this process's moto backends, which moto's
            # in-process mock shares: leave nothing behind for the next test on this worker.
            moto_api_backend.reset()


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> Iterator[Load]:
    watched = Load()
    for name in ("batch_write_item", "batch_get_item"):
        monkeypatch.setattr(DynamoHandler, name, watched.wrap(getattr(DynamoHandler, name)))
    yield watched
    # Requests the client gave up on (a timeout, an interrupt) are still being served:
    # let them end before the tables go, or they would write into the next test's.
    until = time.monotonic() + 10
    while watched.now and time.monotonic() < until:
        time.sleep(0.01)


def client_of(endpoint: str, **config: Any) -> Any:
    """A client of moto's server; botocore retries nothing (the layer does)."""
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": 1}, **config),
    )


@pytest.fixture
def client(endpoint: str) -> Iterator[Any]:
    client = client_of(endpoint)
    create_test_tables(client)
    yield client
    client.close()


def devices(count: int) -> list[dict[str, Any]]:
    return [{"deviceId": f"d-{n:05}", "name": f"device {n}"} for n in range(count)]


def test_writes_and_reads_keep_up_to_concurrency_requests_in_flight_on_one_thread(
    client: Any, load: Load
) -> None:
    load.delay = 0.05
    with BatchClient(client, wire="lean", concurrency=4, retry=FAST, key_schemas=KEYS) as batch:
        assert batch.put_items("devices", devices(500)).written == 500
        assert 1 < load.most <= 4
        load.most = 0
        keys = [{"deviceId": item["deviceId"]} for item in devices(500)]
        found = batch.get_items({"devices": keys}).items["devices"]
        assert len(found) == 500 and 1 < load.most <= 4
        assert batch.context._executor is None  # no worker thread was ever made


def test_a_session_that_only_blocks_is_served_by_the_thread_pool(client: Any, load: Load) -> None:
    load.delay = 0.05
    with BatchClient(client, wire="lean", concurrency=4, retry=FAST, key_schemas=KEYS) as batch:
        pool = batch.context.wire_client.http_session

        class SendOnly:  # botocore's URLLib3Session (a proxy applies) looks like this
            def send(self, request: Any) -> Any:
                return pool.send(request)

        batch.context.wire_client.http_session = SendOnly()
        assert batch.put_items("devices", devices(300)).written == 300
        assert batch.context._executor is not None and 1 < load.most <= 4
    stored = client.scan(TableName="devices", Select="COUNT")["Count"]
    assert stored == 300


def test_an_interrupt_does_not_wait_for_the_answers_and_reports_each_op(
    client: Any, load: Load
) -> None:
    load.delay = 3.0
    with BatchClient(client, wire="lean", concurrency=4, retry=FAST, key_schemas=KEYS) as batch:
        # Ctrl-C: SIGINT to the main thread, which sits in the selector's wait.
        main = threading.main_thread().ident
        assert main is not None
        timer = threading.Timer(0.5, signal.pthread_kill, (main, signal.SIGINT))
        started = time.monotonic()
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt) as caught:
                batch.put_items("devices", devices(200))
        finally:
            timer.cancel()
        waited = time.monotonic() - started
    result = caught.value.result  # type: ignore[attr-defined]
    assert result.written == 0 and len(result.failures) == 200
    assert {failure.code for failure in result.failures} == {"Aborted"}
    in_flight = [f for f in result.failures if "may have been applied" in f.reason]
    assert len(in_flight) == 4 * 25  # the four requests on the wire; the rest never left
    assert waited < load.delay  # it did not sit out the slow answers


def test_a_slow_endpoint_is_a_read_timeout_retried_then_reported(
    endpoint: str, client: Any, load: Load
) -> None:
    slow = client_of(endpoint, read_timeout=0.2)
    load.delay = 0.5
    with BatchClient(slow, wire="lean", concurrency=2, retry=FAST, key_schemas=KEYS) as batch:
        result = batch.put_items("devices", devices(30), raise_on_unprocessed=False)
    assert result.written == 0 and len(result.failures) == 30
    assert {failure.code for failure in result.failures} == {"RetriesExhausted"}
    assert load.served >= FAST.max_attempts  # sent again after each timeout
