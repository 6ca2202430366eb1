"""A minimal DynamoDB endpoint that answers at once (after an emulated round trip).

Moto is the reference for correctness, but it is single-threaded Python and saturates
at roughly 100-150 batch requests a second, which hides any client faster than that.
This responder speaks the same JSON 1.0 protocol botocore uses (``X-Amz-Target:
DynamoDB_20120810.<Operation>``), answers correctly shaped responses, and stores nothing
but the keys the checks need, so the client is what limits a run ("client-bound" mode).

The round trip is emulated here rather than by the delay proxy, to keep a proxy process
off the two shared cores: every request is answered ``latency`` seconds after it was read,
and a new connection waits one extra round trip before its first request is read (the
TCP handshake of a real network).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from json.encoder import encode_basestring_ascii
from typing import Any, ClassVar

from .counters import Counters

__all__ = ["FakeDynamo", "ResponderServer", "DEFAULT_KEY_NAMES"]

#: Table name to its partition key name; a table not listed uses ``deviceId``.
DEFAULT_KEY_NAMES = {"devices": "deviceId", "sessions": "sessionId", "users": "userId"}

#: The five non-key attributes of every synthesised item (about 400 bytes with the key).
ITEM_BODY: dict[str, Any] = {
    "ownerId": {"S": "user-0001"},
    "name": {"S": "kitchen thermostat"},
    "state": {"S": "online"},
    "lastUpdate": {"N": "1764000000"},
    "firmware": {"S": "fw-" + "x" * 300},
}

#: Sessions (what the sweeper re-reads): long expired.
SESSION_BODY: dict[str, Any] = {"userId": {"S": "user-0001"}, "expiresAt": {"N": "1000"}}
SHARDS = 16

TARGET_PREFIX = "DynamoDB_20120810."
CONTROL_PREFIX = "/__bench__/"


class FakeDynamo:
    """The operations, without the HTTP: the responder serves them, the CPU probe calls them."""

    def __init__(self, unprocessed_every: int = 0, key_names: dict[str, str] | None = None) -> None:
        self.unprocessed_every = unprocessed_every
        self.key_names = {**DEFAULT_KEY_NAMES, **(key_names or {})}
        self.counters = Counters()
        #: Expired sessions the expiry index holds (see :meth:`query`); set through reset.
        self.expired_sessions = 0

    def answer(self, operation: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        """Status and JSON body of the response to one request."""
        handler = self.OPERATIONS.get(operation)
        if handler is None:
            return 400, _error("UnknownOperationException", operation)
        try:
            return 200, handler(self, json.loads(raw))
        except (KeyError, TypeError, ValueError) as error:
            return 400, _error("ValidationException", repr(error))

    def respond(self, operation: str, raw: bytes) -> tuple[int, bytes]:
        """:meth:`answer` as the bytes of the response body.

        A BatchGetItem answer's items are spliced in as text (every item is its key and
        one fixed body): ``json.dumps`` of 100 items of 400 bytes costs this process
        ~280 µs a request, which on two shared cores is taken from the client measured.
        """
        if operation != "BatchGetItem":
            status, payload = self.answer(operation, raw)
            return status, _dumps(payload)
        try:
            found, unprocessed = self._batch_get(json.loads(raw))
        except (KeyError, TypeError, ValueError) as error:
            return 400, _dumps(_error("ValidationException", repr(error)))
        tables = ",".join(
            f"{_quote(table)}:{_items_text(keys, table)}" for table, keys in found.items()
        )
        text = f'{{"Responses":{{{tables}}},"UnprocessedKeys":{_dumps(unprocessed).decode()}}}'
        return 200, text.encode()

    def key_name(self, table: str) -> str:
        for suffix, name in self.key_names.items():
            if table == suffix or table.endswith("-" + suffix):
                return name
        return "deviceId"

    # -- the operations ---------------------------------------------------------------

    def batch_get_item(self, body: dict[str, Any]) -> dict[str, Any]:
        found, unprocessed = self._batch_get(body)
        responses = {
            table: [{**key, **body_of(table)} for key in keys] for table, keys in found.items()
        }
        return {"Responses": responses, "UnprocessedKeys": unprocessed}

    def _batch_get(self, body: dict[str, Any]) -> tuple[dict[str, list[Any]], dict[str, Any]]:
        """The keys found per table (every key but those left unprocessed), and those."""
        found: dict[str, list[Any]] = {}
        unprocessed: dict[str, Any] = {}
        every, counters = self.unprocessed_every, self.counters
        for table, request in body["RequestItems"].items():
            keys = found.setdefault(table, [])
            for key in request["Keys"]:
                if counters.take_unprocessed(every):
                    unprocessed.setdefault(table, {"Keys": []})["Keys"].append(key)
                else:
                    keys.append(key)
            counters.record(table, [], [], len(keys))
        return found, unprocessed

    def batch_write_item(self, body: dict[str, Any]) -> dict[str, Any]:
        unprocessed: dict[str, list[Any]] = {}
        every, counters = self.unprocessed_every, self.counters
        for table, requests in body["RequestItems"].items():
            name = self.key_name(table)
            puts: list[str] = []
            deletes: list[str] = []
            for request in requests:
                if counters.take_unprocessed(every):
                    unprocessed.setdefault(table, []).append(request)
                elif "PutRequest" in request:
                    puts.append(_scalar(request["PutRequest"]["Item"][name]))
                else:
                    deletes.append(_scalar(request["DeleteRequest"]["Key"][name]))
            counters.record(table, puts, deletes, 0)
        return {"UnprocessedItems": unprocessed}

    def get_item(self, body: dict[str, Any]) -> dict[str, Any]:
        self.counters.record(body["TableName"], [], [], 1)
        return {"Item": {**body["Key"], **body_of(body["TableName"])}}

    def put_item(self, body: dict[str, Any]) -> dict[str, Any]:
        table = body["TableName"]
        self.counters.record(table, [_scalar(body["Item"][self.key_name(table)])], [], 0)
        return {}

    def delete_item(self, body: dict[str, Any]) -> dict[str, Any]:
        table = body["TableName"]
        self.counters.record(table, [], [_scalar(body["Key"][self.key_name(table)])], 0)
        return {}

    def query(self, body: dict[str, Any]) -> dict[str, Any]:
        """The sparse expiry index: ``expired_sessions`` sessions spread over 16 shards.

        Session ``i`` sits in shard ``i % 16``; a page starts after ``ExclusiveStartKey``
        and holds ``Limit`` keys, as DynamoDB pages a Query.
        """
        values = body.get("ExpressionAttributeValues", {})
        shard = next(int(v["S"]) for v in values.values() if "S" in v)
        start = body.get("ExclusiveStartKey")
        first = int(start["sessionId"]["S"][2:]) + SHARDS if start else shard
        limit = int(body.get("Limit", 1000))
        ids = range(first, self.expired_sessions, SHARDS)[:limit]
        items = [_session_index_key(i, shard) for i in ids]
        answer: dict[str, Any] = {"Items": items, "Count": len(items), "ScannedCount": len(items)}
        if items and ids[-1] + SHARDS < self.expired_sessions:
            answer["LastEvaluatedKey"] = items[-1]
        self.counters.record(body["TableName"], [], [], len(items))
        return answer

    def describe_table(self, body: dict[str, Any]) -> dict[str, Any]:
        table, name = body["TableName"], self.key_name(body["TableName"])
        return {
            "Table": {
                "TableName": table,
                "TableStatus": "ACTIVE",
                "KeySchema": [{"AttributeName": name, "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"}],
                "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
            }
        }

    OPERATIONS: ClassVar[dict[str, Callable[[FakeDynamo, dict[str, Any]], dict[str, Any]]]] = {
        "BatchGetItem": batch_get_item,
        "BatchWriteItem": batch_write_item,
        "GetItem": get_item,
        "PutItem": put_item,
        "DeleteItem": delete_item,
        "DescribeTable": describe_table,
        "Query": query,
    }


class ResponderServer(FakeDynamo, ThreadingHTTPServer):
    """:class:`FakeDynamo` over HTTP/1.1 keep-alive, answering ``latency`` s after a request."""

    daemon_threads = True
    # Many clients open 16 connections at once; the default backlog of 5 would drop some.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        latency: float,
        unprocessed_every: int = 0,
        key_names: dict[str, str] | None = None,
    ) -> None:
        FakeDynamo.__init__(self, unprocessed_every, key_names)
        ThreadingHTTPServer.__init__(self, address, _Handler)
        self.latency = latency


def body_of(table: str) -> dict[str, Any]:
    return SESSION_BODY if table.endswith("sessions") else ITEM_BODY


# One encoder: json.dumps with arguments makes a new one per call (~3 µs).
_encode = json.JSONEncoder(separators=(",", ":")).encode
_quote = encode_basestring_ascii


_BODY_TEXTS = {id(body): _encode(body)[1:] for body in (ITEM_BODY, SESSION_BODY)}


def _items_text(keys: list[dict[str, Any]], table: str) -> str:
    """The JSON list of ``{**key, **body_of(table)}`` for keys of attributes the body has not."""
    tail = "," + _BODY_TEXTS[id(body_of(table))]
    items = []
    for key in keys:
        # Even a shared encoder costs ~1.5 µs a call: a key's few typed values, by hand.
        parts = []
        for name, value in key.items():
            ((kind, data),) = value.items()
            text = _quote(data) if type(data) is str else _encode(data)
            parts.append(f"{_quote(name)}:{{{_quote(kind)}:{text}}}")
        items.append("{" + ",".join(parts) + tail)
    return "[" + ",".join(items) + "]"


def _dumps(payload: Any) -> bytes:
    return _encode(payload).encode()


def _session_index_key(i: int, shard: int) -> dict[str, Any]:
    return {
        "sessionId": {"S": f"s-{i:08d}"},
        "expiryShard": {"S": str(shard)},
        "expiresAt": {"N": "1000"},
    }


def _scalar(value: dict[str, Any]) -> str:
    ((_, data),) = value.items()
    return str(data)


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive, as DynamoDB does; botocore pools and reuses connections.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the second waits for the
    # client's delayed ACK (40 ms on Linux) and every request would look 40 ms slow.
    disable_nagle_algorithm = True
    server: ResponderServer

    def setup(self) -> None:
        super().setup()
        self.server.counters.connected()
        # A new connection costs one round trip before the first request can be sent.
        if self.server.latency:
            time.sleep(self.server.latency)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        """Silent: a line per request would cost more than the request."""

    def _reply(self, status: int, payload: Any) -> None:
        self._send(status, _dumps(payload))

    def _send(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == CONTROL_PREFIX + "stats":
            self._reply(200, self.server.counters.snapshot())
        else:
            self._reply(404, {"message": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        if self.path == CONTROL_PREFIX + "reset":
            self.server.counters.reset()
            options = json.loads(raw or b"{}")
            self.server.expired_sessions = int(options.get("expired_sessions", 0))
            self._reply(200, {})
            return
        operation = self.headers.get("X-Amz-Target", "").removeprefix(TARGET_PREFIX)
        counters = self.server.counters
        counters.enter(operation)
        started = time.perf_counter()
        try:
            # The body is made within the round trip, as DynamoDB's own work is: at the
            # answer's time only the write is left, so ten answers due at once do not
            # queue behind each other's serialisation on this process's one GIL.
            status, data = self.server.respond(operation, raw)
            # Answer one round trip after the request arrived, however long the work took.
            remaining = self.server.latency - (time.perf_counter() - started)
            if remaining > 0:
                time.sleep(remaining)
            self._send(status, data)
        finally:
            counters.leave()


def _error(code: str, message: str) -> dict[str, str]:
    return {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
