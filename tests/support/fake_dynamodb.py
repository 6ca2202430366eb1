"""An in-memory DynamoDB answering at the botocore boundary, with faults on demand.

Fast enough for model-based tests that make thousands of requests: a real boto3 client
builds and validates every request as usual, and botocore's ``before-send`` event (what
moto's mock uses, and the one event dynabatch's lean wire emits too) hands back the
answer as an HTTP response, so no socket is opened. It answers
BatchWriteItem, BatchGetItem and DescribeTable the way DynamoDB documents them, refusing
what DynamoDB refuses (more than 25/100 ops, a key twice in one request, a missing
table) and injecting, at random: throttled requests, unprocessed items/keys, and a
ValidationException for any request that carries a "poisoned" item.

It records every request it answers (operation, virtual start time, keys per table) and
how many requests are being answered at once, so tests can check the layer's contract.
"""

from __future__ import annotations

import copy
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from dynabatch.serde import key_identity

from tests.support.recorder import error_response, http_response, operation_of, request_params

#: An item with this attribute is refused by the fake with a ValidationException, as
#: DynamoDB refuses an item it cannot store (the layer's own checks do not see it).
POISON = "poison"


class StepClock:
    """A monotonic clock that moves only when told: requests and sleeps advance it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += max(0.0, seconds)

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)


@dataclass
class Faults:
    """What goes wrong: probabilities per request / per op, drawn from a seeded RNG."""

    throttle: float = 0.0
    unprocessed: float = 0.0
    server_error: float = 0.0


@dataclass
class Request:
    operation: str
    started: float
    keys: dict[str, list[Any]] = field(default_factory=dict)
    outcome: str = "ok"


class FakeDynamoDB:
    """Tables by name to key attribute names (and types); see the module docstring."""

    def __init__(
        self,
        tables: dict[str, dict[str, str]],
        *,
        seed: int = 0,
        latency: float = 0.002,
        real_latency: float = 0.0005,
    ) -> None:
        self.schemas = tables
        self.items: dict[str, dict[Any, dict[str, Any]]] = {t: {} for t in tables}
        self.faults = Faults()
        self.rng = random.Random(seed)
        self._latency_rng = random.Random(seed + 1)
        self.clock = StepClock()
        self.latency = latency
        self.real_latency = real_latency
        self.requests: list[Request] = []
        self.sends: Counter[tuple[str, Any]] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self.client = boto3.client(
            "dynamodb",
            region_name="eu-west-1",
            aws_access_key_id="fake",
            aws_secret_access_key="fake",
            endpoint_url="http://fake-dynamodb.invalid",
            config=Config(max_pool_connections=32, retries={"total_max_attempts": 1}),
        )
        self.client.meta.events.register("before-send.dynamodb", self._answer)

    # -- views -----------------------------------------------------------------------

    def stored(self, table: str) -> dict[Any, dict[str, Any]]:
        """Identity of the key to the wire item, as the fake holds it."""
        return self.items[table]

    def key_of(self, table: str, item: dict[str, Any]) -> Any:
        return key_identity({name: item[name] for name in self.schemas[table]})

    # -- botocore hooks --------------------------------------------------------------

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        operation = operation_of(request)
        params = request_params(request)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            record = Request(operation, self.clock())
            self.requests.append(record)
        try:
            if self.real_latency:
                # Requests overlap for real and finish out of order, as over a network.
                with self._lock:
                    pause = self._latency_rng.uniform(0.0, 2 * self.real_latency)
                time.sleep(pause)
            with self._lock:
                self.clock.advance(self.latency)
                return self._respond(operation, params, record)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _respond(self, operation: str, params: dict[str, Any], request: Request) -> AWSResponse:
        if operation == "DescribeTable":
            return self._describe(params["TableName"])
        if operation not in ("BatchWriteItem", "BatchGetItem"):
            return _error("UnknownOperationException", operation)
        request_items = params["RequestItems"]
        for table, body in request_items.items():
            ops = body if operation == "BatchWriteItem" else body["Keys"]
            request.keys[table] = [self._op_key(table, op) for op in ops]
            for key in request.keys[table]:
                self.sends[(table, key)] += 1
        problem = self._refusal(operation, request_items, request)
        if problem is not None:
            request.outcome = problem[0]
            return _error(*problem)
        if self.rng.random() < self.faults.throttle:
            request.outcome = "throttled"
            return _error("ProvisionedThroughputExceededException", "slow down")
        if self.rng.random() < self.faults.server_error:
            request.outcome = "server error"
            return _error("InternalServerError", "try again", status=500)
        if operation == "BatchWriteItem":
            return _ok(self._write(request_items))
        return _ok(self._get(request_items))

    def _op_key(self, table: str, op: dict[str, Any]) -> Any:
        body = op
        if "PutRequest" in op:
            body = op["PutRequest"]["Item"]
        elif "DeleteRequest" in op:
            body = op["DeleteRequest"]["Key"]
        names = self.schemas.get(table) or body  # no such table: the op's own content
        return key_identity({n: body[n] for n in names if n in body})

    def _refusal(
        self, operation: str, request_items: dict[str, Any], request: Request
    ) -> tuple[str, str] | None:
        for table in request_items:
            if table not in self.schemas:
                return "ResourceNotFoundException", f"Requested resource not found: {table}"
        limit = 25 if operation == "BatchWriteItem" else 100
        if sum(len(keys) for keys in request.keys.values()) > limit:
            return "ValidationException", f"too many items in one request (over {limit})"
        for keys in request.keys.values():
            if len(keys) != len(set(keys)):
                return "ValidationException", "Provided list of item keys contains duplicates"
        if operation == "BatchWriteItem":
            for ops in request_items.values():
                for op in ops:
                    if POISON in op.get("PutRequest", {}).get("Item", {}):
                        return "ValidationException", "One or more parameter values were invalid"
        return None

    def _describe(self, table: str) -> AWSResponse:
        if table not in self.schemas:
            return _error("ResourceNotFoundException", f"Requested resource not found: {table}")
        names = self.schemas[table]
        kinds = ["HASH", "RANGE"]
        return _ok(
            {
                "Table": {
                    "TableName": table,
                    "KeySchema": [
                        {"AttributeName": n, "KeyType": kinds[i]} for i, n in enumerate(names)
                    ],
                    "AttributeDefinitions": [
                        {"AttributeName": n, "AttributeType": t} for n, t in names.items()
                    ],
                }
            }
        )

    def _write(self, request_items: dict[str, list[Any]]) -> dict[str, Any]:
        unprocessed: dict[str, list[Any]] = {}
        for table, ops in request_items.items():
            for op in ops:
                if self.rng.random() < self.faults.unprocessed:
                    unprocessed.setdefault(table, []).append(op)
                    continue
                key = self._op_key(table, op)
                if "PutRequest" in op:
                    self.items[table][key] = op["PutRequest"]["Item"]
                else:
                    self.items[table].pop(key, None)
        return {"UnprocessedItems": unprocessed}

    def _get(self, request_items: dict[str, Any]) -> dict[str, Any]:
        responses: dict[str, list[Any]] = {}
        unprocessed: dict[str, Any] = {}
        for table, spec in request_items.items():
            found = responses.setdefault(table, [])
            for key in spec["Keys"]:
                if self.rng.random() < self.faults.unprocessed:
                    unprocessed.setdefault(table, {"Keys": []})["Keys"].append(key)
                    continue
                item = self.items[table].get(self._op_key(table, key))
                if item is not None:
                    found.append(item)
        return {"Responses": responses, "UnprocessedKeys": unprocessed}


_URL = "http://fake-dynamodb.invalid/"


def _ok(parsed: dict[str, Any]) -> AWSResponse:
    # Stored items are handed out as they are: the caller's copy must not alias them.
    return http_response(_URL, 200, copy.deepcopy(parsed))


def _error(code: str, message: str, status: int = 400) -> AWSResponse:
    return error_response(_URL, code, message, status)
