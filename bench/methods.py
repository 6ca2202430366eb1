"""The ways to read and write many DynamoDB items that the benchmark puts side by side.

Each is written the way its documentation shows it, with the retry loop a careful user
adds where the library has none. All get the same plain-Python items and keys and are
built once per endpoint, so every measured run is warm (pools open, code imported).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import dynabatch
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from .workloads import DEVICE_TABLE, USER_TABLE, WRITE_TABLE

__all__ = ["METHODS", "Method", "build_methods", "chunks"]

Item = dict[str, Any]
Key = Mapping[str, Any]

GET_CHUNK = dynabatch.MAX_GET_KEYS
WRITE_CHUNK = dynabatch.MAX_WRITE_ITEMS


class Method:
    """One way of doing the work. ``concurrency`` is requests in flight it aims for."""

    name = ""
    concurrency = 1

    def read(self, table: str, keys: Sequence[Key]) -> int:
        """Read ``keys`` into one list of plain items, as a caller gets them; return how
        many came back. Every method holds what it read until it is done: dropping each
        response's items as it counts them would spare it the memory (and the collector
        the work) that a caller who wants the items pays."""
        raise NotImplementedError

    def write(self, table: str, items: Sequence[Item]) -> None:
        raise NotImplementedError

    def get_user(self, table: str, key: Key) -> Item | None:
        """One item by key, as this library reads a single item."""
        raise NotImplementedError

    def list_devices(self, users: str, user: Key, devices: str, keys: Sequence[Key]) -> int:
        """A device list as the route loads it: the user, then (only then) its devices.

        The device keys are given rather than taken from the user's item, so every method
        reads the same devices; the user read still has to end before they are asked for.
        """
        if self.get_user(users, user) is None:
            raise LookupError(f"{self.name}: no user {dict(user)} in {users}")
        return self.read(devices, keys)

    def close(self) -> None:
        """Release threads and connections."""

    def clients(self) -> list[Any]:
        """The botocore clients this method sends through (for the CPU probe's transport)."""
        raise NotImplementedError

    def use_transport(self, transport: Any) -> None:
        """Send through the CPU probe's in-process transport instead of HTTP."""
        for client in self.clients():
            transport.install(client)


def chunks(seq: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [seq[i : i + size] for i in range(0, len(seq), size)]


class OneCall(Method):
    """One GetItem / PutItem per item, as most code starts out."""

    name = "one call per item"

    def __init__(self, endpoint: str) -> None:
        self.resource = boto3.session.Session().resource("dynamodb", endpoint_url=endpoint)

    def clients(self) -> list[Any]:
        return [self.resource.meta.client]

    def read(self, table: str, keys: Sequence[Key]) -> int:
        handle = self.resource.Table(table)
        answers = (handle.get_item(Key=dict(key)) for key in keys)
        return len([answer["Item"] for answer in answers if "Item" in answer])

    def get_user(self, table: str, key: Key) -> Item | None:
        item: Item | None = self.resource.Table(table).get_item(Key=dict(key)).get("Item")
        return item

    def write(self, table: str, items: Sequence[Item]) -> None:
        handle = self.resource.Table(table)
        for item in items:
            handle.put_item(Item=item)


class Boto3Batch(Method):
    """boto3's resource layer: ``Table.batch_writer()`` and ``batch_get_item``."""

    name = "boto3 batch_writer / batch_get_item"

    def __init__(self, endpoint: str) -> None:
        self.resource = boto3.session.Session().resource("dynamodb", endpoint_url=endpoint)

    def clients(self) -> list[Any]:
        return [self.resource.meta.client]

    def read(self, table: str, keys: Sequence[Key]) -> int:
        found: list[Item] = []
        for chunk in chunks(keys, GET_CHUNK):
            request: dict[str, Any] = {table: {"Keys": list(chunk)}}
            # boto3 has no batch-get helper: this is the loop its documentation shows.
            while request:
                response = self.resource.batch_get_item(RequestItems=request)
                found.extend(response["Responses"].get(table, ()))
                request = response.get("UnprocessedKeys") or {}
        return len(found)

    def write(self, table: str, items: Sequence[Item]) -> None:
        with self.resource.Table(table).batch_writer() as writer:
            for item in items:
                writer.put_item(Item=item)

    def get_user(self, table: str, key: Key) -> Item | None:
        item: Item | None = self.resource.Table(table).get_item(Key=dict(key)).get("Item")
        return item


class ThreadPool(Method):
    """A hand-rolled ThreadPoolExecutor over client batch calls, as blog posts show.

    Run as fairly as dynabatch: as many threads and pooled connections as dynabatch's
    concurrency, and the same client (``make_client``: parameter validation off).
    """

    name = f"ThreadPoolExecutor({dynabatch.DEFAULT_CONCURRENCY})"
    concurrency = dynabatch.DEFAULT_CONCURRENCY

    def __init__(self, endpoint: str) -> None:
        self.client = dynabatch.make_client(self.concurrency, endpoint_url=endpoint)
        self.pool = ThreadPoolExecutor(self.concurrency)
        self.serialize = TypeSerializer().serialize
        self.deserialize = TypeDeserializer().deserialize

    def clients(self) -> list[Any]:
        return [self.client]

    def _get(self, table: str, keys: Sequence[Key]) -> list[Item]:
        wire = [{k: self.serialize(v) for k, v in key.items()} for key in keys]
        request: dict[str, Any] = {table: {"Keys": wire}}
        items: list[Item] = []
        while request:
            response = self.client.batch_get_item(RequestItems=request)
            for raw in response["Responses"].get(table, ()):
                items.append({k: self.deserialize(v) for k, v in raw.items()})
            request = response.get("UnprocessedKeys") or {}
        return items

    def _put(self, table: str, items: Sequence[Item]) -> None:
        requests = [
            {"PutRequest": {"Item": {k: self.serialize(v) for k, v in item.items()}}}
            for item in items
        ]
        pending: dict[str, Any] = {table: requests}
        while pending:
            pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems")

    def read(self, table: str, keys: Sequence[Key]) -> int:
        futures = [self.pool.submit(self._get, table, c) for c in chunks(keys, GET_CHUNK)]
        return sum(len(f.result()) for f in futures)

    def get_user(self, table: str, key: Key) -> Item | None:
        wire = {k: self.serialize(v) for k, v in key.items()}
        raw = self.client.get_item(TableName=table, Key=wire).get("Item")
        return None if raw is None else {k: self.deserialize(v) for k, v in raw.items()}

    def write(self, table: str, items: Sequence[Item]) -> None:
        futures = [self.pool.submit(self._put, table, c) for c in chunks(items, WRITE_CHUNK)]
        for future in futures:
            future.result()

    def close(self) -> None:
        self.pool.shutdown()


class PynamoDB(Method):
    """PynamoDB's ``Model.batch_get`` and ``Model.batch_write()``."""

    name = "PynamoDB"

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.models: dict[str, Any] = {}

    def _meta(self, table: str) -> type:
        return type("Meta", (), {"table_name": table, "host": self.endpoint, "region": "us-east-1"})

    def model(self, table: str) -> Any:
        if table not in self.models:
            from pynamodb.attributes import NumberAttribute, UnicodeAttribute
            from pynamodb.models import Model

            self.models[table] = type(
                "BenchDevice",
                (Model,),
                {
                    "Meta": self._meta(table),
                    "deviceId": UnicodeAttribute(hash_key=True),
                    "ownerId": UnicodeAttribute(),
                    "name": UnicodeAttribute(),
                    "state": UnicodeAttribute(),
                    "lastUpdate": NumberAttribute(),
                    "firmware": UnicodeAttribute(),
                },
            )
        return self.models[table]

    def user_model(self, table: str) -> Any:
        if table not in self.models:
            from pynamodb.attributes import UnicodeAttribute, UnicodeSetAttribute
            from pynamodb.models import Model

            self.models[table] = type(
                "BenchUser",
                (Model,),
                {
                    "Meta": self._meta(table),
                    "userId": UnicodeAttribute(hash_key=True),
                    "devices": UnicodeSetAttribute(null=True),
                },
            )
        return self.models[table]

    def clients(self) -> list[Any]:
        return [model._get_connection().connection.client for model in self.models.values()]

    def get_user(self, table: str, key: Key) -> Item | None:
        model = self.user_model(table)
        try:
            return dict(model.get(key["userId"]).attribute_values)
        except model.DoesNotExist:
            return None

    def read(self, table: str, keys: Sequence[Key]) -> int:
        model = self.model(table)
        return len(list(model.batch_get([key["deviceId"] for key in keys])))

    def write(self, table: str, items: Sequence[Item]) -> None:
        model = self.model(table)
        with model.batch_write() as batch:
            for item in items:
                batch.save(model(**item))


class Dynabatch(Method):
    """This project's batch layer, as the functions use it."""

    name = "dynabatch"
    concurrency = dynabatch.DEFAULT_CONCURRENCY
    wire = "lean"

    def __init__(self, endpoint: str) -> None:
        # The client the functions get: make_client's pool and options, this endpoint.
        client = dynabatch.make_client(self.concurrency, endpoint_url=endpoint)
        self.batch = dynabatch.BatchClient(
            client,
            wire=self.wire,
            concurrency=self.concurrency,
            key_schemas={
                DEVICE_TABLE: ("deviceId",),
                WRITE_TABLE: ("deviceId",),
                USER_TABLE: ("userId",),
                "sessions": ("sessionId",),
            },
        )

    def clients(self) -> list[Any]:
        return [self.batch.client]

    def use_transport(self, transport: Any) -> None:
        super().use_transport(transport)
        if self.batch.context.lean:  # batch requests go through the layer's own transport
            self.batch.context.wire_client.http_session = transport

    def read(self, table: str, keys: Sequence[Key]) -> int:
        return len(self.batch.get_items({table: keys}).items.get(table, ()))

    def get_user(self, table: str, key: Key) -> Item | None:
        # As the device-list route reads its user (fleet.devices.DeviceService.device_ids).
        found = self.batch.get_items({table: [key]}, projection=["devices"]).items.get(table)
        return found[0] if found else None

    def write(self, table: str, items: Sequence[Item]) -> None:
        self.batch.put_items(table, items)

    def close(self) -> None:
        self.batch.close()


class DynabatchBotocore(Dynabatch):
    """The batch layer on its botocore wire (``wire="botocore"``): every request through
    the client's methods, as before the lean wire."""

    name = "dynabatch (botocore wire)"
    wire = "botocore"


def _aiodynamo(endpoint: str) -> Method:
    from .aio import AioDynamo  # httpx and aiodynamo only when asked for

    return AioDynamo(endpoint)


def _lean(endpoint: str) -> Method:
    from .lean import Lean

    return Lean(endpoint)


METHODS: dict[str, Callable[[str], Method]] = {
    "one-call": OneCall,
    "boto3": Boto3Batch,
    "threadpool": ThreadPool,
    "pynamodb": PynamoDB,
    "dynabatch": Dynabatch,
    "dynabatch-botocore": DynabatchBotocore,
    "aiodynamo": _aiodynamo,
    "lean": _lean,  # the CPU table only: dynabatch's codec and wire pieces, one thread
}


def build_methods(endpoint: str, names: Sequence[str]) -> dict[str, Method]:
    """One instance of each named method, all talking to ``endpoint``."""
    return {name: METHODS[name](endpoint) for name in names}
