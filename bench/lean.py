"""dynabatch's lean pieces alone: ``codec`` builds and reads the bodies, ``wire`` signs and sends.

Not a way anyone reads or writes today: it measures, in the CPU table, what the layer's
per-item work costs once it sends through these pieces (serialise and size, build the
body, sign, prepare, parse, decode), one request after another on one thread, so the
integration into the engine has a target. Unprocessed work is sent again as returned.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import dynabatch
from dynabatch import codec
from dynabatch.wire import WireClient

from .methods import GET_CHUNK, WRITE_CHUNK, Item, Key, Method, chunks

__all__ = ["Lean"]


class Lean(Method):
    """``codec.encode_item`` + ``codec.batch_*_body`` + ``WireClient.call``, sequentially."""

    name = "dynabatch lean codec+wire"

    def __init__(self, endpoint: str) -> None:
        self.client = dynabatch.make_client(1, endpoint_url=endpoint)
        self.wire = WireClient(self.client)

    def clients(self) -> list[Any]:
        return []  # it sends through self.wire: see use_transport

    def use_transport(self, transport: Any) -> None:
        self.wire.http_session = transport

    def read(self, table: str, keys: Sequence[Key]) -> int:
        found: list[Item] = []
        for chunk in chunks(keys, GET_CHUNK):
            body = codec.batch_get_body({table: [codec.encode_item(key)[0] for key in chunk]})
            while body:
                response = self.wire.call("BatchGetItem", body)
                found.extend(codec.decode_items(response["Responses"].get(table, ())))
                body = _again(response.get("UnprocessedKeys"))
        return len(found)

    def write(self, table: str, items: Sequence[Item]) -> None:
        for chunk in chunks(items, WRITE_CHUNK):
            encoded = [codec.encode_item(item) for item in chunk]
            if sum(size for _, size in encoded) > dynabatch.MAX_REQUEST_BYTES:
                raise ValueError("chunk over the request size limit")  # the layer would split
            body = codec.batch_write_body({table: [("PutRequest", t) for t, _ in encoded]})
            while body:
                body = _again(self.wire.call("BatchWriteItem", body).get("UnprocessedItems"))

    def close(self) -> None:
        self.wire.close()
        self.client.close()


def _again(unprocessed: dict[str, Any] | None) -> str:
    # Unprocessed work comes back as DynamoDB JSON already: it goes out again as it came.
    return json.dumps({"RequestItems": unprocessed}) if unprocessed else ""
