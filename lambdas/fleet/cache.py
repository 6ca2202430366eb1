"""The shared device cache: one small interface, an embedded backend and a Valkey one.

``get_many`` / ``set_many`` (with a TTL) / ``delete_many``, keyed by deviceId, valued by
the whole device item. Values are the item in DynamoDB JSON (``{"N": "1.10"}``...), so
numbers keep every digit and sets stay sets: nothing is lost between DynamoDB, the cache
and the caller.

A cache is an optimisation, never a dependency: a Valkey server that is down or slow
costs a short socket timeout, is logged, and turns reads into misses (callers then read
DynamoDB); after a failure the server is left alone for a few seconds so that a dead cache
does not add its timeout to every request.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, cast

from dynabatch import deserialize_item, serialize_item

__all__ = [
    "DeviceCache",
    "NullCache",
    "MemoryCache",
    "ValkeyCache",
    "open_cache",
    "encode_item",
    "decode_item",
    "KEY_PREFIX",
]

logger = logging.getLogger(__name__)

Item = dict[str, Any]

#: Namespace of device entries in a shared Valkey, so other users of the server are safe.
KEY_PREFIX = "fleet:device:"
#: Socket timeouts (seconds) of the Valkey client: a cache answer slower than this is
#: worth less than the DynamoDB read it would save.
SOCKET_TIMEOUT = 0.25
#: After a cache failure, seconds during which the cache is not tried again.
COOLDOWN_SECONDS = 5.0


class DeviceCache(Protocol):
    """What the services need of a cache."""

    def get_many(self, device_ids: Sequence[str]) -> dict[str, Item]:
        """The cached items among ``device_ids`` (misses are simply absent)."""
        ...

    def set_many(self, items: Mapping[str, Item], ttl_seconds: int) -> int:
        """Cache ``items`` (deviceId to item) for ``ttl_seconds``; returns how many were set."""
        ...

    def delete_many(self, device_ids: Iterable[str]) -> None:
        """Forget ``device_ids``."""
        ...


def _binary_to_text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot cache a {type(value).__name__}")


def encode_item(item: Mapping[str, Any]) -> str:
    """A device item as JSON text, exact for numbers, sets and binary."""
    return json.dumps(serialize_item(item), separators=(",", ":"), default=_binary_to_text)


def _restore_binary(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(v) for v in inner]}
    if kind == "L":
        return {"L": [_restore_binary(v) for v in inner]}
    if kind == "M":
        return {"M": {k: _restore_binary(v) for k, v in inner.items()}}
    return value


def decode_item(text: str | bytes) -> Item:
    """The item :func:`encode_item` wrote."""
    wire = json.loads(text)
    if not isinstance(wire, dict) or not all(isinstance(v, dict) for v in wire.values()):
        raise ValueError("not a cached device item")
    return deserialize_item({name: _restore_binary(value) for name, value in wire.items()})


class NullCache:
    """No shared cache (``CACHE_URL`` unset): every read misses, writes go nowhere."""

    def get_many(self, device_ids: Sequence[str]) -> dict[str, Item]:
        return {}

    def set_many(self, items: Mapping[str, Item], ttl_seconds: int) -> int:
        return 0

    def delete_many(self, device_ids: Iterable[str]) -> None:
        return None


class MemoryCache:
    """The embedded cache (``memory://``): a dict with expiry times, safe across threads.

    Shared by every function running in one process (the local stack), which is what makes
    the warmer's work visible to the loader there.
    """

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._entries: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def get_many(self, device_ids: Sequence[str]) -> dict[str, Item]:
        now = self._clock()
        found: dict[str, str] = {}
        with self._lock:
            for device_id in device_ids:
                entry = self._entries.get(device_id)
                if entry is None:
                    continue
                if entry[0] <= now:
                    del self._entries[device_id]
                else:
                    found[device_id] = entry[1]
        return {device_id: decode_item(text) for device_id, text in found.items()}

    def set_many(self, items: Mapping[str, Item], ttl_seconds: int) -> int:
        encoded = {device_id: encode_item(item) for device_id, item in items.items()}
        expires = self._clock() + ttl_seconds
        with self._lock:
            for device_id, text in encoded.items():
                self._entries[device_id] = (expires, text)
        return len(encoded)

    def delete_many(self, device_ids: Iterable[str]) -> None:
        with self._lock:
            for device_id in device_ids:
                self._entries.pop(device_id, None)

    def clear(self) -> None:
        """Forget everything (tests, and the local stack's reset)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class ValkeyCache:
    """A Valkey/Redis server: MGET, pipelined ``SET EX``, DEL, with short timeouts.

    Every failure (connection refused, timeout, protocol error) is logged and swallowed:
    reads then miss and writes are skipped, and the server is not tried again for
    ``cooldown`` seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = SOCKET_TIMEOUT,
        cooldown: float = COOLDOWN_SECONDS,
        prefix: str = KEY_PREFIX,
    ) -> None:
        # Imported here: only functions given a Valkey URL pay for the client's import.
        import valkey
        from valkey.backoff import NoBackoff
        from valkey.retry import Retry

        self._client = valkey.Valkey.from_url(
            url.replace("valkey://", "redis://", 1).replace("valkeys://", "rediss://", 1),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # No client-side retries: a second try would double the time a dead cache costs.
            retry=Retry(NoBackoff(), 0),
            health_check_interval=30,
        )
        self._errors: tuple[type[BaseException], ...] = (valkey.ValkeyError, OSError)
        self._cooldown = cooldown
        self._prefix = prefix
        self._down_until = 0.0

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, operation: str, error: BaseException) -> None:
        self._down_until = time.monotonic() + self._cooldown
        logger.warning(
            "cache %s failed (%s: %s); reading DynamoDB instead for %.0f s",
            operation,
            type(error).__name__,
            error,
            self._cooldown,
        )

    def get_many(self, device_ids: Sequence[str]) -> dict[str, Item]:
        if not device_ids or not self._available():
            return {}
        try:
            values = cast(list[Any], self._client.mget([self._prefix + d for d in device_ids]))
        except self._errors as error:
            self._failed("MGET", error)
            return {}
        found = {}
        for device_id, value in zip(device_ids, values, strict=True):
            if value is None:
                continue
            try:
                found[device_id] = decode_item(value)
            except (ValueError, TypeError, KeyError, AttributeError):
                # A value we did not write (or an older format): a miss, not an error.
                logger.warning("ignoring unreadable cache entry for %s", device_id)
        return found

    def set_many(self, items: Mapping[str, Item], ttl_seconds: int) -> int:
        if not items or not self._available():
            return 0
        pipe = self._client.pipeline(transaction=False)
        for device_id, item in items.items():
            pipe.set(self._prefix + device_id, encode_item(item), ex=ttl_seconds)
        try:
            pipe.execute()  # type: ignore[no-untyped-call]
        except self._errors as error:
            self._failed("SET", error)
            return 0
        return len(items)

    def delete_many(self, device_ids: Iterable[str]) -> None:
        names = [self._prefix + d for d in device_ids]
        if not names:
            return
        # Deleting is tried even while cooling down: a stale entry after a transfer would
        # show the old owner for a whole TTL.
        try:
            self._client.delete(*names)
        except self._errors as error:
            self._failed("DEL", error)


_MEMORY_CACHES: dict[str, MemoryCache] = {}
_MEMORY_LOCK = threading.Lock()


def open_cache(url: str | None) -> DeviceCache:
    """The cache ``CACHE_URL`` names: none, the embedded one, or a Valkey/Redis server.

    ``memory://`` URLs give one shared instance per URL in the process, so the functions of
    the local stack see each other's entries.
    """
    if not url:
        return NullCache()
    if url.startswith("memory://"):
        with _MEMORY_LOCK:
            return _MEMORY_CACHES.setdefault(url, MemoryCache())
    return ValkeyCache(url)
