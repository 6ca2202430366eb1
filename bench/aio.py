"""aiodynamo, the asyncio DynamoDB client that skips botocore, as its documentation shows it.

Chunks of 100 keys / 25 items are gathered on one event loop, at most as many in flight as
dynabatch's concurrency, over an ``httpx.AsyncClient`` whose pool is as large; unprocessed
keys and items are sent again until none are left (aiodynamo retries throttling itself,
not unprocessed work). The loop and the HTTP client live as long as the method, so every
measured run is warm like the others'.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import dynabatch
import httpx
from aiodynamo.client import Client
from aiodynamo.credentials import Credentials
from aiodynamo.errors import ItemNotFound
from aiodynamo.http.httpx import HTTPX
from aiodynamo.http.types import Request, Response
from aiodynamo.models import BatchGetRequest, BatchWriteRequest
from yarl import URL

from .methods import GET_CHUNK, WRITE_CHUNK, Item, Key, Method, chunks

__all__ = ["AioDynamo"]


class AioDynamo(Method):
    """aiodynamo 26.4 ``Client.batch_get`` / ``batch_write`` with ``asyncio.gather``."""

    name = "aiodynamo (asyncio)"
    concurrency = dynabatch.DEFAULT_CONCURRENCY

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.loop = asyncio.new_event_loop()
        self.http = self.loop.run_until_complete(self._open())
        self.client = self._client(HTTPX(self.http))

    async def _open(self) -> httpx.AsyncClient:
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        return httpx.AsyncClient(limits=limits, timeout=60)

    def _client(self, http: Callable[[Request], Awaitable[Response]]) -> Client:
        return Client(http, Credentials.auto(), region="us-east-1", endpoint=URL(self.endpoint))

    def clients(self) -> list[Any]:
        return []  # no botocore client: see use_transport

    def use_transport(self, transport: Any) -> None:
        """Answer from the CPU probe's in-process endpoint instead of HTTP."""
        self.client = self._client(_AsyncTransport(transport))

    def read(self, table: str, keys: Sequence[Key]) -> int:
        return self.loop.run_until_complete(self._read(table, keys))

    def write(self, table: str, items: Sequence[Item]) -> None:
        self.loop.run_until_complete(self._write(table, items))

    def get_user(self, table: str, key: Key) -> Item | None:
        return self.loop.run_until_complete(self._get_user(table, key))

    async def _get_user(self, table: str, key: Key) -> Item | None:
        try:
            return await self.client.get_item(table, dict(key))
        except ItemNotFound:
            return None

    async def _read(self, table: str, keys: Sequence[Key]) -> int:
        gate = asyncio.Semaphore(self.concurrency)

        found: list[Item] = []

        async def get(chunk: Sequence[Key]) -> None:
            pending = [dict(key) for key in chunk]
            while pending:
                async with gate:
                    response = await self.client.batch_get({table: BatchGetRequest(pending)})
                found.extend(response.items.get(table, ()))
                pending = response.unprocessed_keys.get(table, [])

        await asyncio.gather(*(get(c) for c in chunks(keys, GET_CHUNK)))
        return len(found)

    async def _write(self, table: str, items: Sequence[Item]) -> None:
        gate = asyncio.Semaphore(self.concurrency)

        async def put(chunk: Sequence[Item]) -> None:
            pending = list(chunk)
            while pending:
                async with gate:
                    result = await self.client.batch_write(
                        {table: BatchWriteRequest(items_to_put=pending)}
                    )
                left = result.get(table)
                pending = left.unput_items if left else []

        await asyncio.gather(*(put(c) for c in chunks(items, WRITE_CHUNK)))

    def close(self) -> None:
        self.loop.run_until_complete(self.http.aclose())
        self.loop.close()


class _AsyncTransport:
    """aiodynamo's HTTP callable, answered by the CPU probe's transport (its CPU counted)."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport

    async def __call__(self, request: Request) -> Response:
        started = time.thread_time()
        target = (request.headers or {})["X-Amz-Target"]
        operation = target.split(".", 1)[1]
        status, data = self.transport.dynamo.respond(operation, request.body or b"{}")
        with _LOCK:
            self.transport.cpu += time.thread_time() - started
            self.transport.requests += 1
        return Response(status, data)


_LOCK = threading.Lock()
