"""Demo data for the local stack: the same every time, so docs and scripts can rely on it.

- ``user-0001`` owns exactly 50 devices and ``user-0002`` exactly 3; 38 more users own
  3 to 12 devices each, a few hundred devices in all;
- every device names its owner, and every user's ``devices`` set is exactly the devices
  that name them (what the transfer transaction keeps true);
- 120 sessions: ``user-0001`` and ``user-0002`` have a live one each, and 40 sessions
  expired an hour or more ago (for the sweeper to find).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fleet.sessions import new_session

__all__ = ["demo_data", "DEMO_USERS", "EXPIRED_SESSIONS"]

DEMO_USERS = 40
EXPIRED_SESSIONS = 40
_SESSIONS = 120
_STATES = ("online", "offline", "updating", "sleeping")
_KINDS = ("thermostat", "lamp", "camera", "lock", "sensor", "plug")


def _owned_counts(rng: random.Random) -> list[int]:
    return [50, 3] + [rng.randint(3, 12) for _ in range(DEMO_USERS - 2)]


def demo_data(now: float | None = None) -> dict[str, list[dict[str, Any]]]:
    """Items per logical table: ``devices``, ``users``, ``sessions``."""
    rng = random.Random(20260101)  # noqa: S311 - reproducible demo values, not secrets
    now = time.time() if now is None else now
    start = datetime.fromtimestamp(now, UTC).replace(microsecond=0)
    devices: list[dict[str, Any]] = []
    users: list[dict[str, Any]] = []
    serial = 0
    for index, count in enumerate(_owned_counts(rng), start=1):
        user_id = f"user-{index:04d}"
        owned = []
        for _ in range(count):
            serial += 1
            device_id = f"dev-{serial:05d}"
            kind = rng.choice(_KINDS)
            seen = start - timedelta(seconds=rng.randint(0, 7 * 86400))
            devices.append(
                {
                    "deviceId": device_id,
                    "ownerId": user_id,
                    "name": f"{kind} {serial}",
                    "state": rng.choice(_STATES),
                    "lastUpdate": seen.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "kind": kind,
                    "firmware": f"1.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
                }
            )
            owned.append(device_id)
        users.append(
            {
                "userId": user_id,
                "name": f"Demo User {index}",
                "email": f"user{index:04d}@example.com",
                "devices": set(owned),
            }
        )
    return {"devices": devices, "users": users, "sessions": _sessions(rng, int(now))}


def _sessions(rng: random.Random, now: int) -> list[dict[str, Any]]:
    sessions = [
        new_session("sess-live-0001", "user-0001", now + 8 * 3600),
        new_session("sess-live-0002", "user-0002", now + 8 * 3600),
    ]
    for n in range(_SESSIONS - len(sessions)):
        user = f"user-{rng.randint(1, DEMO_USERS):04d}"
        if n < EXPIRED_SESSIONS:
            expires = now - rng.randint(3600, 3 * 86400)
        else:
            expires = now + rng.randint(3600, 2 * 86400)
        sessions.append(new_session(f"sess-{n:05d}", user, expires))
    return sessions
