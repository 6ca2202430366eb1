"""The shared device cache: one small interface, an embedded backend and a Valkey one.

``get_many`` / ``set_many`` (with a TTL) / ``delete_many``, keyed by deviceId, valued by
the whole device item. Values are the item in DynamoDB JSON (``{"N": "1.10"}``...), so
numbers keep every digit and sets stay sets: nothing is lost between DynamoDB, the cache
and the caller.

A cache is an optimisation, never a dependency: a Valkey server that is down or slow
costs a short socket timeout, is logged, and turns reads into misses (callers then read
DynamoDB); after a failure the server is left alone for a few seconds so that a dead cache
does not add its timeout to every request.

Forgetting a device leaves a short tombstone (:data:`TOMBSTONE_SECONDS`) that writes
respect. The loader and the warmer write back items they read with eventually consistent
reads, and such a write can land just after a transfer dropped the device: without the
tombstone it would serve the old ``ownerId`` for a whole TTL.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    "TOMBSTONE_SECONDS",
    "MEMORY_MAX_ENTRIES",
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
#: How long a forgotten device may not be cached again. A write-back follows its read by
#: milliseconds and DynamoDB's eventually consistent reads converge within about a second;
#: the price is a few DynamoDB reads of a just-moved device.
TOMBSTONE_SECONDS = 10
#: Entries the embedded cache keeps (least recently used go first): at a few hundred bytes
#: to a few KB a device, tens of MB at most in the local stack's process.
MEMORY_MAX_ENTRIES = 20_000
#: The value of a tombstone in Valkey: never a JSON object, so never read as an item.
TOMBSTONE = b"\x00tombstone"
# SET unless the key holds a tombstone, atomically (one script per key: no cross-slot).
_SET_UNLESS_TOMBSTONE = """
if redis.call('GET', KEYS[1]) == ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


class DeviceCache(Protocol):
    """What the services need of a cache."""

    def get_many(self, device_ids: Sequence[str]) -> dict[str, Item]:
        """The cached items among ``device_ids`` (misses are simply absent)."""
        ...

    def set_many(self, items: Mapping[str, Item], ttl_seconds: int) -> int:
        """Cache ``items`` (deviceId to item) for ``ttl_seconds``; returns how many were set.

        A device forgotten less than :data:`TOMBSTONE_SECONDS` ago is not set.
        """
        ...

    def delete_many(self, device_ids: Iterable[str]) -> None:
        """Forget ``device_ids``, and refuse to cache them for :data:`TOMBSTONE_SECONDS`."""
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
    """The embedded cache (``memory://``): bounded, with expiry times, safe across threads.

    Shared by every function running in one process (the local stack), which is what makes
    the warmer's work visible to the loader there. At most ``max_entries`` items are kept,
    the least recently used going first; tombstones are kept apart so that a full cache
    never evicts one before it expires.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_entries: int = MEMORY_MAX_ENTRIES,
        tombstone_seconds: float = TOMBSTONE_SECONDS,
    ) -> None:
        # Imported here: deployed functions use Valkey and never load cachetools.
        from cachetools import TLRUCache, TTLCache

        # Each entry carries its own TTL (set_many's argument), hence a TLRU cache.
        self._entries: TLRUCache[str, tuple[float, str]] = TLRUCache(
            maxsize=max_entries, ttu=_expires_at, timer=clock
        )
        self._tombstones: TTLCache[str, bool] = TTLCache(
            maxsize=max_entries, ttl=tombstone_seconds, timer=clock
        )
        self._lock = threading.Lock()

    def get_many(self, device_ids: Sequence[str]) -> dict[str, Item]:
        found: dict[str, str] = {}
        with self._lock:
            for device_id in device_ids:
                entry = self._entries.get(device_id)
                if entry is not None:
                    found[device_id] = entry[1]
        return {device_id: decode_item(text) for device_id, text in found.items()}

    def set_many(self, items: Mapping[str, Item], ttl_seconds: int) -> int:
        encoded = {device_id: encode_item(item) for device_id, item in items.items()}
        written = 0
        with self._lock:
            for device_id, text in encoded.items():
                if device_id in self._tombstones:
                    continue
                self._entries[device_id] = (float(ttl_seconds), text)
                written += 1
        return written

    def delete_many(self, device_ids: Iterable[str]) -> None:
        with self._lock:
            for device_id in device_ids:
                self._entries.pop(device_id, None)
                self._tombstones[device_id] = True

    def clear(self) -> None:
        """Forget everything, tombstones too (tests, and the local stack's reset)."""
        with self._lock:
            self._entries.clear()
            self._tombstones.clear()

    def __len__(self) -> int:
        with self._lock:
            self._entries.expire()
            return len(self._entries)

    @property
    def max_entries(self) -> int:
        """How many entries the cache keeps at most."""
        return int(self._entries.maxsize)


def _expires_at(_key: str, entry: tuple[float, str], now: float) -> float:
    return now + entry[0]


class ValkeyCache:
    """A Valkey/Redis server: MGET, pipelined conditional ``SET EX``, tombstones, short timeouts.

    Every failure (connection refused, timeout, refused AUTH, protocol error) is logged and
    swallowed: reads then miss and writes are skipped, and the server is not tried again
    for ``cooldown`` seconds.

    Parameters
    ----------
    url:
        ``redis://``, ``rediss://`` (TLS), ``valkey://`` or ``valkeys://``. Over TLS the
        server's certificate is required and its hostname checked.
    credential_provider:
        What AUTH sends on each new connection (e.g. :class:`fleet.cache_iam.IamAuthToken`,
        whose token is refreshed before it expires); ``None``: the URL's own, if any.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = SOCKET_TIMEOUT,
        cooldown: float = COOLDOWN_SECONDS,
        prefix: str = KEY_PREFIX,
        tombstone_seconds: int = TOMBSTONE_SECONDS,
        credential_provider: Any = None,
    ) -> None:
        # Imported here: only functions given a Valkey URL pay for the client's import.
        import valkey
        from valkey.backoff import NoBackoff
        from valkey.retry import Retry

        url = url.replace("valkey://", "redis://", 1).replace("valkeys://", "rediss://", 1)
        options: dict[str, Any] = {}
        if url.startswith("rediss://"):
            options.update(ssl_cert_reqs="required", ssl_check_hostname=True)
        if credential_provider is not None:
            options["credential_provider"] = credential_provider
        self._client = valkey.Valkey.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # No client-side retries: a second try would double the time a dead cache costs.
            retry=Retry(NoBackoff(), 0),
            health_check_interval=30,
            **options,
        )
        self._set_unless_tombstone = self._client.register_script(_SET_UNLESS_TOMBSTONE)
        self._errors: tuple[type[BaseException], ...] = (valkey.ValkeyError, OSError)
        self._cooldown = cooldown
        self._prefix = prefix
        self._tombstone_seconds = tombstone_seconds
        self._down_until = 0.0

    @property
    def client(self) -> Any:
        """The underlying ``valkey.Valkey`` client (its pool holds the connection options)."""
        return self._client

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
            if value is None or value == TOMBSTONE:
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
            self._set_unless_tombstone(
                keys=[self._prefix + device_id],
                args=[encode_item(item), ttl_seconds, TOMBSTONE],
                client=pipe,
            )
        try:
            results = pipe.execute()  # type: ignore[no-untyped-call]
        except self._errors as error:
            self._failed("SET", error)
            return 0
        return sum(1 for result in results if result == 1)

    def delete_many(self, device_ids: Iterable[str]) -> None:
        names = [self._prefix + d for d in device_ids]
        if not names:
            return
        # Tried even while cooling down: a stale entry after a transfer would show the old
        # owner for a whole TTL.
        pipe = self._client.pipeline(transaction=False)
        for name in names:
            pipe.set(name, TOMBSTONE, ex=self._tombstone_seconds)
        try:
            pipe.execute()  # type: ignore[no-untyped-call]
        except self._errors as error:
            self._failed("DEL", error)


_MEMORY_CACHES: dict[str, MemoryCache] = {}
_MEMORY_LOCK = threading.Lock()


def open_cache(url: str | None, *, credential_provider: Any = None) -> DeviceCache:
    """The cache ``CACHE_URL`` names: none, the embedded one, or a Valkey/Redis server.

    ``memory://`` URLs give one shared instance per URL in the process, so the functions of
    the local stack see each other's entries. ``credential_provider`` is the Valkey
    server's AUTH (see :class:`ValkeyCache`).
    """
    if not url:
        return NullCache()
    if url.startswith("memory://"):
        with _MEMORY_LOCK:
            return _MEMORY_CACHES.setdefault(url, MemoryCache())
    return ValkeyCache(url, credential_provider=credential_provider)
