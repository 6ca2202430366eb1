"""Watch and disturb what a botocore client sends, through botocore's own event hooks.

The subject (dynabatch) runs unmodified against moto; this only sits on the client's
event system, the way botocore's Stubber does, to record every request and to make
DynamoDB refuse items, throttle or fail on demand (moto never does on its own).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

Refuser = Callable[[str, dict[str, Any]], bool]


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
    # (operation, error code) queued: the next calls of that operation fail with it.
    errors: list[tuple[str, str]] = field(default_factory=list)
    # A canned TransactionCanceledException reasons list for the next transact call(s).
    cancellations: list[list[dict[str, Any]]] = field(default_factory=list)
    delay: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _local: threading.local = field(default_factory=threading.local)

    def __post_init__(self) -> None:
        events = self.client.meta.events
        events.register("before-parameter-build.dynamodb.*", self._before_build)
        events.register("before-call.dynamodb.*", self._before_call)
        events.register("after-call.dynamodb.*", self._after_call)

    # -- views -----------------------------------------------------------------------

    def calls(self, operation: str) -> list[dict[str, Any]]:
        return [s.params for s in self.sent if s.operation == operation]

    # -- hooks -----------------------------------------------------------------------

    def _before_build(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        operation = model.name
        original = copy.deepcopy(params)
        refused: dict[str, Any] = {}
        if self.refuse is not None and operation in ("BatchWriteItem", "BatchGetItem"):
            refused = self._take_refused(operation, params)
        self._local.refused = refused
        self._local.poisoned = self.poison is not None and self._poisoned(operation, params)
        self._local.all_refused = (
            operation in ("BatchWriteItem", "BatchGetItem") and not params["RequestItems"]
        )
        with self._lock:
            self.sent.append(Sent(operation, copy.deepcopy(params), original))

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

    def _before_call(self, model: Any, **_: Any) -> Any:
        operation = model.name
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
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
            return _error(queued[1])
        if getattr(self._local, "poisoned", False):
            self._local.refused = {}
            return _error("ValidationException", "One or more parameter values were invalid")
        if cancellation is not None:
            return _error("TransactionCanceledException", CancellationReasons=cancellation)
        if getattr(self._local, "all_refused", False):
            # Everything was refused: nothing is left to send to moto.
            empty: dict[str, Any] = {"ResponseMetadata": {"HTTPStatusCode": 200}}
            if operation == "BatchGetItem":
                empty["Responses"] = {}
            return AWSResponse("http://test", 200, {}, None), empty
        return None

    def _after_call(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        with self._lock:
            self.in_flight -= 1
        refused = getattr(self._local, "refused", {})
        self._local.refused = {}
        if not refused:
            return
        name = "UnprocessedItems" if model.name == "BatchWriteItem" else "UnprocessedKeys"
        parsed.setdefault(name, {}).update(refused)


def _error(
    code: str, message: str | None = None, **extra: Any
) -> tuple[AWSResponse, dict[str, Any]]:
    parsed = {
        "Error": {"Code": code, "Message": message or f"injected {code}"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
        **extra,
    }
    return AWSResponse("http://test", 400, {}, None), parsed
