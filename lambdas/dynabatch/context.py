"""The one object the internals get: what a BatchClient was built with, nothing more.

:class:`BatchContext` is made by :class:`~dynabatch.client.BatchClient` and passed to the
reader, writer and engine, so they never reach back into the facade and imports run one
way (client -> internals). Every DynamoDB request of the layer goes through
:meth:`BatchContext.call`, the single place a faster wire path can plug in.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from botocore import xform_name
from botocore.exceptions import ClientError

from .capacity import TokenBucket
from .metrics import MetricsSink
from .retry import RetryPolicy, error_code
from .types import RequestEvent
from .wire import Multiplexer, WireClient

__all__ = ["BatchContext", "KeySchemas", "TableUnavailable", "WireMode", "wire_mode"]

#: How batch requests reach DynamoDB: ``"lean"`` sends bodies built by :mod:`.codec`
#: through :class:`~dynabatch.wire.WireClient`; ``"botocore"`` goes through the client.
WireMode = Literal["lean", "botocore"]
_WIRE_MODES = ("lean", "botocore")


def wire_mode(wire: str | None) -> WireMode:
    """The wire mode to use: ``wire`` if given, else ``DYNABATCH_WIRE``, else ``"lean"``.

    Raises
    ------
    ValueError
        For anything but ``"lean"`` or ``"botocore"``.
    """
    chosen = wire or os.environ.get("DYNABATCH_WIRE") or "lean"
    if chosen == "lean":
        return "lean"
    if chosen == "botocore":
        return "botocore"
    raise ValueError(f"wire must be one of {_WIRE_MODES}, not {chosen!r}")


#: Table name to key attribute names (partition key first), or to ``{name: "S"|"N"|"B"}``.
KeySchemas = Mapping[str, Sequence[str] | Mapping[str, str]]


class TableUnavailable(Exception):
    """DescribeTable failed for a table: its ops fail with ``code``/``message``."""

    def __init__(self, table: str, code: str, message: str) -> None:
        self.table = table
        self.code = code
        self.message = message
        super().__init__(f"table {table!r}: {code}: {message}")


class BatchContext:
    """Client, pool, limits and policies shared by every call of one BatchClient."""

    def __init__(
        self,
        client: Any,
        *,
        concurrency: int,
        retry: RetryPolicy,
        metrics: MetricsSink | None,
        capacity_read: TokenBucket | None,
        capacity_write: TokenBucket | None,
        max_request_bytes: int,
        key_schemas: KeySchemas | None,
        on_request: Callable[[RequestEvent], None] | None,
        wire: WireMode = "botocore",
    ) -> None:
        self.client = client
        #: True when BatchWriteItem, BatchGetItem, Query and Scan go through :meth:`send_body`.
        self.lean = wire == "lean"
        self._wire: WireClient | None = None
        self.concurrency = concurrency
        self.retry = retry
        self.metrics = metrics
        self.capacity_read = capacity_read
        self.capacity_write = capacity_write
        self.max_request_bytes = max_request_bytes
        self.on_request = on_request
        self._key_names: dict[str, tuple[str, ...]] = {}
        self._key_types: dict[str, dict[str, str]] = {}
        for table, schema in (key_schemas or {}).items():
            self._key_names[table] = tuple(schema)
            if isinstance(schema, Mapping):
                self._key_types[table] = dict(schema)
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._methods: dict[str, Callable[..., Any]] = {}
        #: The monotonic clock and sleep deadlines and backoff use (tests swap them).
        self.clock: Callable[[], float] = time.monotonic
        self.sleep: Callable[[float], None] = time.sleep

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send one DynamoDB request (``"BatchWriteItem"``, ...) and return its response."""
        method = self._methods.get(operation)
        if method is None:
            method = self._methods[operation] = getattr(self.client, xform_name(operation))
        response: dict[str, Any] = method(**params)
        return response

    def send_body(self, operation: str, body: str) -> dict[str, Any]:
        """Send a request body built by :mod:`.codec`; the response is ``json.loads``'d.

        Items in the response stay DynamoDB JSON, binary as base64 text. Errors are the
        ``ClientError`` s the client would raise, so retries and failure codes do not change.
        """
        return self.wire_client.call(operation, body)

    def multiplexer(self) -> Multiplexer | None:
        """On the lean wire, requests in flight on the calling thread (when its HTTP
        session can start them without blocking); else None: use the thread pool."""
        if not self.lean or not self.wire_client.multiplexes:
            return None
        return self.wire_client.multiplexer()

    @property
    def wire_client(self) -> WireClient:
        """The lean transport (made on first use): the client's settings, a pool of
        ``concurrency`` kept-alive connections."""
        wire = self._wire
        if wire is None:
            with self._lock:
                if self._wire is None:
                    self._wire = WireClient(self.client, max_pool_connections=self.concurrency)
                wire = self._wire
        return wire

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The pool that runs batch requests; made on first use, reused after."""
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=self.concurrency, thread_name_prefix="dynabatch"
                    )
        return self._executor

    def key_names(self, table: str) -> tuple[str, ...]:
        """The key attribute names of ``table``, from ``key_schemas`` or one DescribeTable.

        Raises
        ------
        TableUnavailable
            When DescribeTable fails (missing table, no permission).
        """
        names = self._key_names.get(table)
        if names is None:
            try:
                description = self.call("DescribeTable", {"TableName": table})["Table"]
            except ClientError as error:
                message = str(error.response.get("Error", {}).get("Message", error))
                raise TableUnavailable(table, error_code(error), message) from None
            schema = sorted(description["KeySchema"], key=lambda k: k["KeyType"] != "HASH")
            names = tuple(k["AttributeName"] for k in schema)
            types = {
                d["AttributeName"]: d["AttributeType"]
                for d in description.get("AttributeDefinitions", ())
                if d["AttributeName"] in names
            }
            with self._lock:
                self._key_names[table] = names
                self._key_types[table] = types
        return names

    def known_key_names(self, table: str) -> tuple[str, ...] | None:
        """The key attribute names of ``table`` if already known, without asking DynamoDB."""
        return self._key_names.get(table)

    def key_types(self, table: str) -> dict[str, str] | None:
        """Key attribute name to ``"S"``/``"N"``/``"B"``, when known."""
        return self._key_types.get(table)

    def close(self) -> None:
        """Stop the worker threads (the client itself stays usable elsewhere)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._wire is not None:
            self._wire.close()
            self._wire = None
