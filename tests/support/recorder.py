"""Watch and disturb what a DynamoDB client sends, through botocore's ``before-send`` event.

The subject (dynabatch) runs unmodified against moto; this only sits on the client's
event system, the way moto's own mock does, to record every request and to make
DynamoDB refuse items, throttle or fail on demand (moto never does on its own).
``before-send`` is the one event both wire paths emit (botocore's client and
dynabatch's lean WireClient), so the same faults reach both, as raw HTTP responses.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.httpsession import URLLib3Session

Refuser = Callable[[str, dict[str, Any]], bool]

#: Where a request answered here is pointed, so that moto's own hook passes it over.
_ANSWERED = "http://answered-by-recorder.invalid/"


def operation_of(request: Any) -> str:
    """The DynamoDB operation of a prepared request (its ``X-Amz-Target``)."""
    target = request.headers["X-Amz-Target"]
    if isinstance(target, bytes):
        target = target.decode("ascii")
    return str(target).rsplit(".", 1)[-1]


def request_params(request: Any) -> dict[str, Any]:
    """The parameters of a prepared request, binary as ``bytes`` (as botocore takes them)."""
    body = request.body
    if hasattr(body, "read"):
        position = body.tell()
        data = body.read()
        body.seek(position)
        body = data
    if not body:
        return {}
    parsed: dict[str, Any] = _binary_to_bytes(json.loads(body))
    return parsed


def _binary_to_bytes(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            ((kind, data),) = value.items()
            if kind == "B" and isinstance(data, str):
                return {"B": base64.b64decode(data)}
            if kind == "BS" and isinstance(data, list):
                return {"BS": [base64.b64decode(b) for b in data]}
        return {name: _binary_to_bytes(member) for name, member in value.items()}
    if isinstance(value, list):
        return [_binary_to_bytes(member) for member in value]
    return value


def to_json(value: Any) -> bytes:
    """DynamoDB JSON 1.0 text of parameters or a response (binary as base64)."""

    def default(member: Any) -> Any:
        if isinstance(member, (bytes, bytearray)):
            return base64.b64encode(member).decode("ascii")
        raise TypeError(f"cannot send {type(member).__name__}")

    return json.dumps(value, default=default, separators=(",", ":")).encode("utf-8")


class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        data = self.read()
        if data:
            yield data


def http_response(url: str, status: int, parsed: dict[str, Any]) -> AWSResponse:
    """An HTTP response carrying ``parsed`` as DynamoDB sends it (with its crc32)."""
    body = to_json(parsed)
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "x-amz-crc32": str(zlib.crc32(body) & 0xFFFFFFFF),
    }
    return AWSResponse(url, status, headers, _Raw(body))


def error_response(url: str, code: str, message: str, status: int = 400, **extra: Any) -> Any:
    """The HTTP response DynamoDB sends for error ``code`` (``extra``: modeled members)."""
    parsed = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message, **extra}
    return http_response(url, status, parsed)


@dataclass
class Sent:
    """One request as the client sent it (after any refusal was taken out)."""

    operation: str
    params: dict[str, Any]
    original: dict[str, Any]


@dataclass
class Recorder:
    client: Any
    sent: list[Sent] = field(default_factory=list)
    # Items/keys for which refuse(table, wire_item_or_key) is true are taken out of the
    # request before moto sees it and handed back as UnprocessedItems/UnprocessedKeys.
    refuse: Refuser | None = None
    # A request carrying an item/key for which poison(table, wire) is true fails whole with
    # a ValidationException, as DynamoDB fails a request with one item it cannot store.
    poison: Refuser | None = None
    # Called with (operation, parsed response) before moto's answer goes back: to make
    # a response say what moto never says (capacity used, a damaged item).
    alter: Callable[[str, dict[str, Any]], None] | None = None
    # (operation, error code) queued: the next calls of that operation fail with it.
    errors: list[tuple[str, str]] = field(default_factory=list)
    # A canned TransactionCanceledException reasons list for the next transact call(s).
    cancellations: list[list[dict[str, Any]]] = field(default_factory=list)
    delay: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _local: threading.local = field(default_factory=threading.local)
    _http: URLLib3Session | None = None

    def __post_init__(self) -> None:
        # First, so that it sees (and may answer) every request before moto does.
        self.client.meta.events.register_first("before-send.dynamodb", self._on_send)

    # -- views -----------------------------------------------------------------------

    def calls(self, operation: str) -> list[dict[str, Any]]:
        return [s.params for s in self.sent if s.operation == operation]

    # -- hooks -----------------------------------------------------------------------

    def _on_send(self, request: Any, **_: Any) -> AWSResponse | None:
        operation = operation_of(request)
        params = request_params(request)
        original = copy.deepcopy(params)
        batch = operation in ("BatchWriteItem", "BatchGetItem")
        refused: dict[str, Any] = {}
        if self.refuse is not None and batch:
            refused = self._take_refused(operation, params)
        poisoned = self.poison is not None and self._poisoned(operation, params)
        with self._lock:
            self.sent.append(Sent(operation, copy.deepcopy(params), original))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return self._answer(request, operation, params, refused, poisoned)
        finally:
            with self._lock:
                self.in_flight -= 1
            # Answered here: moto's own hook, which runs next, must pass it over.
            request.url = _ANSWERED

    def _answer(
        self,
        request: Any,
        operation: str,
        params: dict[str, Any],
        refused: dict[str, Any],
        poisoned: bool,
    ) -> AWSResponse:
        url = request.url
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            queued = next((e for e in self.errors if e[0] == operation), None)
            if queued is not None:
                self.errors.remove(queued)
            cancellation = (
                self.cancellations.pop(0)
                if queued is None and self.cancellations and operation.startswith("Transact")
                else None
            )
        if queued is not None:
            return error_response(url, queued[1], f"injected {queued[1]}")
        if poisoned:
            return error_response(
                url, "ValidationException", "One or more parameter values were invalid"
            )
        if cancellation is not None:
            return error_response(
                url,
                "TransactionCanceledException",
                "injected TransactionCanceledException",
                CancellationReasons=cancellation,
            )
        if not refused and self.alter is None:
            return self._moto(request)
        if not refused or params["RequestItems"]:
            if refused:
                request.body = to_json(params)
                request.headers["Content-Length"] = str(len(request.body))
            response = self._moto(request)
            if response.status_code >= 300:
                return response
            parsed = _binary_to_bytes(json.loads(response.content or b"{}"))
        else:  # everything was refused: nothing is left to send to moto
            parsed = {"Responses": {}} if operation == "BatchGetItem" else {}
        if refused:
            name = "UnprocessedItems" if operation == "BatchWriteItem" else "UnprocessedKeys"
            parsed.setdefault(name, {}).update(refused)
        if self.alter is not None:
            self.alter(operation, parsed)
        return http_response(url, 200, parsed)

    def _moto(self, request: Any) -> AWSResponse:
        from moto.core.models import botocore_stubber

        response = botocore_stubber("before-send", request)
        if response is None:
            # No in-process mock: the client talks to a real endpoint (moto's server, for
            # the command line's tests), so the request goes there over HTTP.
            if self._http is None:
                self._http = URLLib3Session()
            response = self._http.send(request)
        return response

    def _poisoned(self, operation: str, params: dict[str, Any]) -> bool:
        assert self.poison is not None
        if operation not in ("BatchWriteItem", "BatchGetItem"):
            return False
        for table, body in params["RequestItems"].items():
            for request in body if operation == "BatchWriteItem" else body["Keys"]:
                wire = request.get("PutRequest", {}).get("Item") or request.get(
                    "DeleteRequest", {}
                ).get("Key", request)
                if self.poison(table, wire):
                    return True
        return False

    def _take_refused(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.refuse is not None
        refused: dict[str, Any] = {}
        for table in list(params["RequestItems"]):
            if operation == "BatchWriteItem":
                kept, gone = [], []
                for request in params["RequestItems"][table]:
                    body = (
                        request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"]
                    )
                    (gone if self.refuse(table, body) else kept).append(request)
                if gone:
                    refused[table] = gone
                if kept:
                    params["RequestItems"][table] = kept
                else:
                    del params["RequestItems"][table]
            else:
                spec = params["RequestItems"][table]
                kept_keys, gone_keys = [], []
                for key in spec["Keys"]:
                    (gone_keys if self.refuse(table, key) else kept_keys).append(key)
                if gone_keys:
                    refused[table] = {
                        **{k: v for k, v in spec.items() if k != "Keys"},
                        "Keys": gone_keys,
                    }
                if kept_keys:
                    spec["Keys"] = kept_keys
                else:
                    del params["RequestItems"][table]
        return refused
