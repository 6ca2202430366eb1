"""The cache warmer: loads the hot devices and writes them to the cache, pipelined.

The hot set is, in order of precedence, the ``deviceIds`` of a manual invoke, the devices
of its ``userIds``, or (on the schedule) the devices of every user with a live session.
Live sessions are found through the sparse expiry index, ``expiresAt > now`` on each of
its shards, which reads live sessions only: never a Scan of the sessions table.

Devices are read whole (the cache holds whole items; the loader projects per request)
and each BatchGetItem page is written to the cache as it arrives, one pipeline a page,
so the warmer never holds more than a page of devices in memory.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key
from dynabatch import BatchClient

from .cache import DeviceCache
from .errors import InvalidEvent
from .sessions import shards
from .tables import EXPIRY_INDEX

__all__ = ["WarmTarget", "Warmer", "parse_warm_event", "MAX_EVENT_IDS"]

#: Most ids a manual invoke may name (Lambda's 256 KB async payload fits this easily).
MAX_EVENT_IDS = 10_000


@dataclass(frozen=True)
class WarmTarget:
    """What to warm: given devices, given users' devices, or (both ``None``) live users'."""

    device_ids: tuple[str, ...] | None = None
    user_ids: tuple[str, ...] | None = None

    @property
    def source(self) -> str:
        """``deviceIds``, ``userIds`` or ``liveSessions``: reported in the counts."""
        if self.device_ids is not None:
            return "deviceIds"
        return "userIds" if self.user_ids is not None else "liveSessions"


def _ids(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidEvent(f"{name} must be a list of non-empty strings")
    if len(value) > MAX_EVENT_IDS:
        raise InvalidEvent(f"{name} may hold at most {MAX_EVENT_IDS} ids")
    return tuple(dict.fromkeys(value))


def parse_warm_event(event: Mapping[str, Any] | None) -> WarmTarget:
    """Read a scheduled EventBridge event (warm live users) or a manual invoke.

    Raises
    ------
    InvalidEvent
        Not an object, unknown keys, both ``deviceIds`` and ``userIds``, or bad ids.
    """
    if event is None:
        return WarmTarget()
    if not isinstance(event, Mapping):
        raise InvalidEvent("the event must be a JSON object")
    if event.get("source") == "aws.events" or "detail-type" in event:
        return WarmTarget()  # the schedule: its detail is not read
    unknown = sorted(set(event) - {"deviceIds", "userIds"})
    if unknown:
        raise InvalidEvent(f"unknown key(s) {unknown}: expected deviceIds or userIds")
    if "deviceIds" in event and "userIds" in event:
        raise InvalidEvent("give deviceIds or userIds, not both")
    if "deviceIds" in event:
        return WarmTarget(device_ids=_ids(event["deviceIds"], "deviceIds"))
    if "userIds" in event:
        return WarmTarget(user_ids=_ids(event["userIds"], "userIds"))
    return WarmTarget()


class Warmer:
    """Loads hot devices into the cache.

    Parameters
    ----------
    batch:
        The batch layer client.
    cache:
        Where the devices go.
    devices_table, users_table, sessions_table:
        Deployed table names (``sessions_table`` only for the live-session default).
    ttl_seconds:
        Time to live of the cache entries.
    """

    def __init__(
        self,
        batch: BatchClient,
        cache: DeviceCache,
        *,
        devices_table: str,
        users_table: str,
        sessions_table: str | None,
        ttl_seconds: int,
    ) -> None:
        self.batch = batch
        self.cache = cache
        self.devices_table = devices_table
        self.users_table = users_table
        self.sessions_table = sessions_table
        self.ttl_seconds = ttl_seconds

    def live_user_ids(self, now: int) -> tuple[set[str], int]:
        """Users with a session whose ``expiresAt`` is after ``now``, and sessions read."""
        if self.sessions_table is None:
            raise InvalidEvent("SESSIONS_TABLE is not set: give deviceIds or userIds")
        users: set[str] = set()
        sessions = 0
        for shard in shards():
            condition = Key(EXPIRY_INDEX.partition.name).eq(shard) & Key("expiresAt").gt(now)
            # The index projects userId, so the live users come from the index alone.
            for item in self.batch.query(
                self.sessions_table, condition, index_name=EXPIRY_INDEX.name
            ):
                sessions += 1
                if "userId" in item:
                    users.add(item["userId"])
        return users, sessions

    def device_ids_of(self, user_ids: Iterable[str]) -> list[str]:
        """The union of the users' device sets (unknown users add nothing)."""
        keys = [{"userId": u} for u in user_ids]
        if not keys:
            return []
        found = self.batch.get_items({self.users_table: keys}, projection=["devices"])
        devices: dict[str, None] = {}
        for user in found.items[self.users_table]:
            devices.update(dict.fromkeys(sorted(user.get("devices") or ())))
        return list(devices)

    def warm(self, target: WarmTarget, now: int | None = None) -> dict[str, Any]:
        """Warm ``target``; returns the counts the function answers with."""
        started = time.perf_counter()
        now = int(time.time()) if now is None else now
        report: dict[str, Any] = {"source": target.source, "users": 0, "sessions_read": 0}
        if target.device_ids is not None:
            device_ids = list(target.device_ids)
        else:
            if target.user_ids is not None:
                user_ids: set[str] | tuple[str, ...] = target.user_ids
            else:
                user_ids, report["sessions_read"] = self.live_user_ids(now)
            report["users"] = len(user_ids)
            device_ids = self.device_ids_of(user_ids)
        loaded, warmed, missing, unprocessed = self._load_into_cache(device_ids)
        report.update(
            requested=len(device_ids),
            loaded=loaded,
            warmed=warmed,
            missing=missing,
            unprocessed=unprocessed,
            took_ms=round((time.perf_counter() - started) * 1000.0, 1),
        )
        return report

    def _load_into_cache(self, device_ids: list[str]) -> tuple[int, int, int, int]:
        if not device_ids:
            return 0, 0, 0, 0
        stream = self.batch.iter_get_items({self.devices_table: _keys(device_ids)})
        loaded = warmed = 0
        for page in stream:
            loaded += len(page.items)
            # One pipelined SET EX per BatchGetItem response, as it arrives.
            warmed += self.cache.set_many(
                {item["deviceId"]: item for item in page.items}, self.ttl_seconds
            )
        result = stream.result
        missing = len(result.missing.get(self.devices_table, ()))
        unprocessed = len(result.unprocessed.get(self.devices_table, ()))
        return loaded, warmed, missing, unprocessed


def _keys(device_ids: Iterable[str]) -> Iterator[dict[str, str]]:
    for device_id in device_ids:
        yield {"deviceId": device_id}
