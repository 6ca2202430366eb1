"""The data each workload reads or writes: devices of about 400 bytes and 6 attributes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "Workload",
    "WORKLOADS",
    "device",
    "device_key",
    "user_item",
    "DEVICE_TABLE",
    "USER_TABLE",
    "USER_KEY",
    "WRITE_TABLE",
]

DEVICE_TABLE = "devices"
#: The device list reads its user first: the one user every list belongs to.
USER_TABLE = "users"
USER_KEY = {"userId": "user-0000"}
#: Where moto-mode writes land: emptied before each run, so a count proves every item.
WRITE_TABLE = "written-devices"
PADDING = "x" * 300


def device_key(i: int) -> dict[str, Any]:
    return {"deviceId": f"dev-{i:07d}"}


def device(i: int) -> dict[str, Any]:
    """Device ``i``: 6 attributes, about 400 bytes as DynamoDB counts them."""
    return {
        "deviceId": f"dev-{i:07d}",
        "ownerId": f"user-{i // 50:04d}",
        "name": f"kitchen thermostat {i}",
        "state": "online" if i % 3 else "offline",
        "lastUpdate": 1_764_000_000 + i,
        "firmware": "fw-" + PADDING,
    }


def user_item(n: int) -> dict[str, Any]:
    """The user whose device list is devices ``0 .. n-1``."""
    devices = {device_key(i)["deviceId"] for i in range(n)}
    return {**USER_KEY, "devices": devices} if devices else dict(USER_KEY)


@dataclass(frozen=True)
class Workload:
    """``kind`` is "read", "write" or "list" (a device list: the user, then ``n`` devices
    by key, as the device-list route loads them); ``n`` items."""

    name: str
    kind: str
    n: int

    @property
    def short(self) -> str:
        if self.kind == "list":
            return f"device list of {self.n:,}"
        return f"{self.kind} {self.n:,}"

    @property
    def lead_requests(self) -> int:
        """Requests each run sends one after another before its batch: the user read."""
        return 1 if self.kind == "list" else 0


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("devicelist50", "list", 50),
        Workload("read50", "read", 50),
        Workload("read100", "read", 100),
        Workload("read1000", "read", 1000),
        Workload("write1000", "write", 1000),
        Workload("write10000", "write", 10000),
    )
}
