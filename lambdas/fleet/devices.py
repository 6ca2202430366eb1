"""The device-list loader: a user's devices, a page at a time, read through the cache.

A page costs two DynamoDB round trips on a cold cache: the user (its ``devices`` set),
then one BatchGetItem round for the page's devices (a page is at most 100 devices, one
BatchGetItem). Devices found in the cache are not read from DynamoDB; those read are
written back whole, and the requested projection is applied afterwards, so one cache
entry serves every projection.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dynabatch import MAX_GET_KEYS, BatchClient

from .cache import DeviceCache
from .errors import BadRequest, NotFound
from .observability import logger
from .observability import metrics as default_metrics

__all__ = [
    "DevicePageRequest",
    "DeviceLoader",
    "parse_page_request",
    "encode_cursor",
    "decode_cursor",
    "MAX_LIMIT",
    "MAX_FIELDS",
]

#: A page holds at most one BatchGetItem's worth of devices.
MAX_LIMIT = MAX_GET_KEYS
MAX_FIELDS = 20
MAX_CURSOR_LENGTH = 512
# Top-level attribute names only: the projection is applied to cached items in Python, and
# a plain name is something every client can ask for without learning DynamoDB paths.
# Every pattern is applied with fullmatch: "$" would also match before a trailing newline.
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")
_LIMIT = re.compile(r"[0-9]{1,3}")
# The alphabet encode_cursor writes (unpadded URL-safe base64); b64decode would otherwise
# skip characters outside it, accepting "cursor\n" or "cur sor" as the same cursor.
_CURSOR = re.compile(rf"[A-Za-z0-9_\-]{{1,{MAX_CURSOR_LENGTH}}}")


@dataclass(frozen=True)
class DevicePageRequest:
    """A validated ``GET /users/{userId}/devices``."""

    user_id: str
    fields: tuple[str, ...] | None = None
    limit: int = MAX_LIMIT
    offset: int = 0


def encode_cursor(user_id: str, offset: int) -> str:
    """The opaque ``nextCursor``: where the next page starts in the user's sorted set."""
    raw = json.dumps({"u": user_id, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(user_id: str, cursor: str) -> int:
    """The offset in ``cursor``.

    Raises
    ------
    BadRequest
        ``InvalidCursor``: not one of ours, or made for another user's list.
    """
    invalid = BadRequest("cursor is not a nextCursor of this list", "InvalidCursor")
    if not _CURSOR.fullmatch(cursor):
        raise invalid
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid from None
    if not isinstance(data, dict) or data.get("u") != user_id:
        raise invalid
    offset = data.get("o")
    if type(offset) is not int or offset < 0:
        raise invalid
    return offset


def parse_page_request(user_id: str, params: Mapping[str, str] | None) -> DevicePageRequest:
    """Validate the query string of the route.

    Raises
    ------
    BadRequest
        ``InvalidLimit``, ``InvalidFields`` or ``InvalidCursor``, naming the parameter.
    """
    params = params or {}
    limit = MAX_LIMIT
    if "limit" in params:
        raw = params["limit"]
        if not _LIMIT.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
            raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}", "InvalidLimit")
        limit = int(raw)
    fields = None
    if "fields" in params:
        # Spaces around a name are forgiven ("name, state"); nothing else is stripped.
        names = [name.strip(" ") for name in params["fields"].split(",")]
        if len(names) > MAX_FIELDS or not all(_FIELD.fullmatch(n) for n in names):
            raise BadRequest(
                f"fields must be 1 to {MAX_FIELDS} comma-separated attribute names",
                "InvalidFields",
            )
        fields = tuple(dict.fromkeys(names))
    offset = decode_cursor(user_id, params["cursor"]) if "cursor" in params else 0
    return DevicePageRequest(user_id, fields, limit, offset)


def _project(item: Mapping[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    if fields is None:
        return dict(item)
    wanted = ("deviceId", *fields)
    return {name: item[name] for name in wanted if name in item}


class DeviceLoader:
    """Reads users' devices through the cache.

    Parameters
    ----------
    batch:
        The batch layer client.
    cache:
        Where whole device items are cached.
    devices_table, users_table:
        Deployed table names.
    ttl_seconds:
        Time to live of the entries written back.
    """

    def __init__(
        self,
        batch: BatchClient,
        cache: DeviceCache,
        *,
        devices_table: str,
        users_table: str,
        ttl_seconds: int,
        metrics: Any = default_metrics,
    ) -> None:
        self.batch = batch
        self.cache = cache
        self.devices_table = devices_table
        self.users_table = users_table
        self.ttl_seconds = ttl_seconds
        self.metrics = metrics

    def device_ids(self, user_id: str, deadline_at: float | None = None) -> list[str]:
        """The user's device ids, sorted (the order pages and cursors follow).

        ``deadline_at`` (monotonic) is the invocation's time limit, passed to the batch layer.

        Raises
        ------
        NotFound
            ``UserNotFound``.
        """
        result = self.batch.get_items(
            {self.users_table: [{"userId": user_id}]},
            projection=["devices"],
            deadline_at=deadline_at,
        )
        users = result.items.get(self.users_table) or []
        if not users:
            raise NotFound(f"user {user_id!r} does not exist", "UserNotFound")
        return sorted(users[0].get("devices") or ())

    def load(
        self, device_ids: Sequence[str], deadline_at: float | None = None
    ) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """Whole device items by id, from the cache first, and the ids that do not exist."""
        found = self.cache.get_many(device_ids)
        misses = [d for d in device_ids if d not in found]
        self.metrics.add_metric("CacheHits", "Count", len(found))
        self.metrics.add_metric("CacheMisses", "Count", len(misses))
        if not misses:
            return found, []
        result = self.batch.get_items(
            {self.devices_table: [{"deviceId": d} for d in misses]}, deadline_at=deadline_at
        )
        loaded = {item["deviceId"]: item for item in result.items.get(self.devices_table, [])}
        if loaded:
            self.cache.set_many(loaded, self.ttl_seconds)
        found.update(loaded)
        missing = [d for d in misses if d not in loaded]
        if missing:
            # The user's set names devices that are gone: worth a look, never a failure.
            logger.warning("user devices set names missing devices", extra={"missing": missing})
        return found, missing

    def list_devices(
        self, request: DevicePageRequest, deadline_at: float | None = None
    ) -> dict[str, Any]:
        """The route's 200 body: one page of devices, ``missing`` ids and ``nextCursor``.

        Both reads share ``deadline_at`` (the invocation's time limit, monotonic): past it
        nothing more is sent and the answer is a 503, before Lambda would cut it off.
        """
        ids = self.device_ids(request.user_id, deadline_at)
        page = ids[request.offset : request.offset + request.limit]
        end = request.offset + len(page)
        found, missing = self.load(page, deadline_at)
        devices = [_project(found[d], request.fields) for d in page if d in found]
        return {
            "userId": request.user_id,
            "devices": devices,
            "count": len(devices),
            "missing": missing,
            "nextCursor": encode_cursor(request.user_id, end) if end < len(ids) else None,
        }
