"""The data each workload reads or writes: devices of about 400 bytes and 6 attributes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Workload", "WORKLOADS", "device", "device_key", "DEVICE_TABLE", "WRITE_TABLE"]

DEVICE_TABLE = "devices"
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


@dataclass(frozen=True)
class Workload:
    """``kind`` is "read" or "write"; ``n`` items."""

    name: str
    kind: str
    n: int

    @property
    def short(self) -> str:
        return f"{self.kind} {self.n:,}"


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("read50", "read", 50),
        Workload("read100", "read", 100),
        Workload("read1000", "read", 1000),
        Workload("write1000", "write", 1000),
        Workload("write10000", "write", 10000),
    )
}
