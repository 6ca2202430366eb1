"""Where one written and one read item's client CPU goes: serialise, sign, HTTP, parse, layer.

Each part is timed on its own (``time.thread_time`` of this thread, median of 5 runs) for
a full request, 25 devices written or 100 read, and divided by the items in it:

- botocore path: the layer's ``serde`` (TypeSerializer + ``item_size``) / TypeDeserializer,
  botocore's JSON serializer and response parser, and its send path (events, user agent,
  signing) as the client call's time less those and less the in-process transport;
- lean path: ``codec`` (encode + size + body) / ``load_body`` + ``decode_items``, and
  ``WireClient.call``'s own time (request, SigV4, prepare, events, crc) less the parse;
- HTTP: one send of the same request to the bench responder on 127.0.0.1 over a kept-alive
  connection (the client side only): botocore's ``URLLib3Session`` on the botocore path,
  the lean wire's ``KeepAlivePool`` (one non-blocking exchange) on the lean path;
- layer: ``BatchClient.put_items`` / ``get_items`` of 1,000 items on each wire through the
  in-process transport, less that path's parts: packing, threads, futures, retries' checks.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import botocore.serialize
import dynabatch
from botocore.awsrequest import AWSPreparedRequest, HeadersDict
from botocore.httpsession import URLLib3Session
from botocore.parsers import create_parser
from dynabatch import codec, serde
from dynabatch.connections import KeepAlivePool
from dynabatch.wire import WireClient

from .cpuprobe import UNREACHABLE, StubTransport
from .responder import FakeDynamo
from .servers import Endpoint
from .workloads import DEVICE_TABLE, device, device_key

__all__ = ["measure_breakdown"]

PARTS = ("serialise", "sign and send path", "HTTP (client side)", "parse", "layer")


def _us(fn: Callable[[], Any], per: int, calls: int = 40) -> float:
    """Median thread CPU µs per item of ``fn`` (``per`` items a call)."""
    fn()
    samples = []
    for _ in range(5):
        started = time.thread_time()
        for _ in range(calls):
            fn()
        samples.append((time.thread_time() - started) / calls / per * 1e6)
    return statistics.median(samples)


def _transport_us(
    client: Any, transport: StubTransport, fn: Callable[[], Any], per: int, calls: int = 40
) -> float:
    """Like :func:`_us`, less the in-process transport's own CPU."""
    transport.install(client)
    fn()
    samples = []
    for _ in range(5):
        transport.cpu = 0.0
        started = time.thread_time()
        for _ in range(calls):
            fn()
        samples.append((time.thread_time() - started - transport.cpu) / calls / per * 1e6)
    return statistics.median(samples)


class _Parts:
    def __init__(self, kind: str, n: int) -> None:
        self.kind, self.n = kind, n
        self.operation = "BatchWriteItem" if kind == "write" else "BatchGetItem"
        plain = (
            [device(i) for i in range(n)] if kind == "write" else [device_key(i) for i in range(n)]
        )
        self.plain = plain
        self.client = dynabatch.make_client(1, endpoint_url=UNREACHABLE)
        model = self.client.meta.service_model.operation_model(self.operation)
        self.model = model
        self.serializer = botocore.serialize.create_serializer("json", include_validation=False)
        self.parser = create_parser("json")
        wire = [serde.serialize_item(p) for p in plain]
        if kind == "write":
            self.params: dict[str, Any] = {
                "RequestItems": {DEVICE_TABLE: [{"PutRequest": {"Item": w}} for w in wire]}
            }
        else:
            self.params = {"RequestItems": {DEVICE_TABLE: {"Keys": wire}}}
        self.body = codec.load_body(
            self.serializer.serialize_to_request(self.params, model)["body"]
        )
        status, answer = FakeDynamo().answer(self.operation, json.dumps(self.body).encode())
        assert status == 200
        self.answer = json.dumps(answer, separators=(",", ":")).encode()

    def layer_serialise(self) -> None:
        for item in self.plain:
            serde.item_size(serde.serialize_item(item))

    def botocore_serialise(self) -> None:
        self.serializer.serialize_to_request(self.params, self.model)

    def botocore_parse(self) -> None:
        parsed = self.parser.parse(
            {"status_code": 200, "headers": {}, "body": self.answer}, self.model.output_shape
        )
        for item in parsed.get("Responses", {}).get(DEVICE_TABLE, ()):
            serde.deserialize_item(item)

    def lean_serialise(self) -> str:
        texts = [codec.encode_item(item)[0] for item in self.plain]
        if self.kind == "write":
            return codec.batch_write_body({DEVICE_TABLE: [("PutRequest", t) for t in texts]})
        return codec.batch_get_body({DEVICE_TABLE: texts})

    def lean_parse(self) -> None:
        codec.decode_items(codec.load_body(self.answer).get("Responses", {}).get(DEVICE_TABLE, ()))


def _http_us(parts: _Parts, calls: int, lean: bool) -> float:
    """Client-side CPU of sending the request over a kept-alive socket to the responder."""
    with Endpoint("client-bound", 0) as endpoint:
        session: Any = (
            KeepAlivePool(endpoint.url, max_size=1)
            if lean
            else URLLib3Session(max_pool_connections=1)
        )
        client = dynabatch.make_client(1, endpoint_url=endpoint.url)
        wire = WireClient(client, http_session=session)
        body = parts.lean_serialise().encode()
        headers = wire.signer.sign(
            client._get_credentials().get_frozen_credentials(),
            "DynamoDB_20120810." + parts.operation,
            "application/x-amz-json-1.0",
            body,
        )
        headers["Content-Length"] = str(len(body))
        prepared = AWSPreparedRequest(
            "POST", endpoint.url + "/", HeadersDict(headers), body, False, {}
        )
        result = _us(lambda: session.send(prepared).content, parts.n, calls)
        session.close()
        return result


def measure_breakdown(
    log: Any = print, calls: int = 40, layer_items: int = 1000
) -> list[dict[str, Any]]:
    """µs per item of each part, botocore path and lean path, one written and one read item.

    ``calls`` requests a sample for each part (5 samples, median); ``layer_items`` items a
    run of the whole layer.
    """
    rows = []
    for kind, n in (("write", dynabatch.MAX_WRITE_ITEMS), ("read", dynabatch.MAX_GET_KEYS)):
        for path, row in _one_kind(kind, n, calls, layer_items):
            rows.append({"kind": kind, "path": path, "per_request": n, **row})
            log(f"  breakdown {kind} {path}: " + ", ".join(f"{k} {v:.1f}" for k, v in row.items()))
    return rows


def _one_kind(
    kind: str, n: int, calls: int, layer_items: int
) -> list[tuple[str, dict[str, float]]]:
    parts = _Parts(kind, n)
    transport = StubTransport()
    call = getattr(parts.client, "batch_write_item" if kind == "write" else "batch_get_item")
    whole_botocore = _transport_us(parts.client, transport, lambda: call(**parts.params), n, calls)
    boto_serialise = _us(parts.botocore_serialise, n, calls)
    boto_parse = _us(parts.botocore_parse, n, calls)
    wire = WireClient(parts.client, http_session=transport)
    body = parts.lean_serialise()
    whole_wire = _transport_us(
        parts.client, transport, lambda: wire.call(parts.operation, body), n, calls
    )
    load_only = _us(lambda: codec.load_body(parts.answer), n, calls)  # the parse call() does itself
    http = _http_us(parts, calls, lean=False)
    lean_http = _http_us(parts, calls, lean=True)
    layer_total = _layer_us(kind, transport, layer_items, "botocore")
    lean_total = _layer_us(kind, transport, layer_items, "lean")
    layer_serialise = _us(parts.layer_serialise, n, calls)
    botocore_row = {
        "serialise": layer_serialise + boto_serialise,
        "sign and send path": whole_botocore - boto_serialise - boto_parse,
        "HTTP (client side)": http,
        "parse": boto_parse,
        "layer": layer_total - whole_botocore - layer_serialise,
    }
    lean_serialise = _us(parts.lean_serialise, n, calls)
    lean_parse = _us(parts.lean_parse, n, calls)
    lean_row = {
        "serialise": lean_serialise,
        "sign and send path": whole_wire - load_only,
        "HTTP (client side)": lean_http,
        "parse": lean_parse,
        # The layer on its lean wire, less the pieces above (whole_wire holds load_only).
        "layer": lean_total - lean_serialise - whole_wire - (lean_parse - load_only),
    }
    return [("botocore", botocore_row), ("lean codec+wire", lean_row)]


def _layer_us(kind: str, transport: StubTransport, n: int, wire: str) -> float:
    client = dynabatch.make_client(dynabatch.DEFAULT_CONCURRENCY, endpoint_url=UNREACHABLE)
    transport.install(client)
    batch = dynabatch.BatchClient(client, key_schemas={DEVICE_TABLE: ("deviceId",)}, wire=wire)
    if batch.context.lean:
        batch.context.wire_client.http_session = transport
    try:
        if kind == "write":
            items = [device(i) for i in range(n)]
            work: Callable[[], Any] = lambda: batch.put_items(DEVICE_TABLE, items)  # noqa: E731
        else:
            keys = [device_key(i) for i in range(n)]
            work = lambda: batch.get_items({DEVICE_TABLE: keys})  # noqa: E731
        work()
        samples = []
        for _ in range(5):
            transport.cpu = 0.0
            started = time.process_time()  # every thread: the layer's workers do the sending
            work()
            samples.append((time.process_time() - started - transport.cpu) / n * 1e6)
        return statistics.median(samples)
    finally:
        batch.close()


def breakdown_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per item kind and path, µs per item of each part and the total."""
    out = "| item | path | " + " | ".join(PARTS) + " | total µs/item |\n"
    out += "|---|---|" + "--:|" * (len(PARTS) + 1) + "\n"
    for r in rows:
        cells = [f"{r[p]:.1f}" if r[p] == r[p] else "—" for p in PARTS]
        total = sum(r[p] for p in PARTS if r[p] == r[p])
        item = f"one {'written' if r['kind'] == 'write' else 'read'} ({r['per_request']} a request)"
        out += f"| {item} | {r['path']} | " + " | ".join(cells) + f" | {total:.1f} |\n"
    return out
