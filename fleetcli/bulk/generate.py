"""``fleet generate devices|users|sessions N``: demo-shaped data at any size.

The shapes are the local demo's (:mod:`fleetcli.local.demo`): devices owned by users,
users whose ``devices`` set names exactly the devices that name them, sessions with an
expiry and its shard. The same seed gives the same file.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from fleet.sessions import new_session

from fleetcli.common import OK, positive
from fleetcli.local import demo

from .formats import ItemWriter

__all__ = ["add_parser", "generate", "items"]

KINDS = ("devices", "users", "sessions")
#: Devices a generated user owns, on average.
DEVICES_PER_USER = 8


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``fleet generate KIND N``."""
    gen = sub.add_parser(
        "generate",
        help="write N demo-shaped devices, users or sessions (JSON Lines or CSV)",
        description="Demo-shaped items for trying bulk work at scale: devices name their "
        f"owner (user-00000001...; about {DEVICES_PER_USER} devices a user), users list "
        "exactly the devices that name them, sessions expire (a quarter already expired). "
        "Generate devices and users with the same N/seed to get a consistent pair.",
    )
    gen.add_argument("kind", choices=KINDS)
    gen.add_argument("count", type=positive, metavar="N", help="how many items")
    gen.add_argument("-o", "--out", default="-", help="output file (default: standard output)")
    gen.add_argument(
        "--format", choices=("jsonl", "csv"), help="default: from the name, else jsonl"
    )
    gen.add_argument(
        "--seed", type=int, default=20260101, help="random seed (same seed, same data)"
    )
    gen.set_defaults(func=generate)


def generate(args: argparse.Namespace) -> int:
    """Write the items; returns the exit code."""
    fmt = args.format or ("csv" if args.out.endswith(".csv") else "jsonl")
    columns = {"devices": _DEVICE_COLUMNS, "users": _USER_COLUMNS, "sessions": _SESSION_COLUMNS}
    stream: IO[str] = (
        sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8", newline="")  # noqa: SIM115
    )
    try:
        writer = ItemWriter(stream, fmt, columns=columns[args.kind] if fmt == "csv" else None)
        for item in items(args.kind, args.count, args.seed):
            writer.write(item)
        writer.close()
    finally:
        if stream is not sys.stdout:
            stream.close()
    if args.out != "-":
        sys.stderr.write(f"generate {args.kind}: {args.count} items to {args.out}\n")
    return OK


_DEVICE_COLUMNS = ["deviceId", "ownerId", "name", "state", "lastUpdate", "kind", "firmware"]
_USER_COLUMNS = ["userId", "name", "email", "devices:SS"]
_SESSION_COLUMNS = ["sessionId", "userId", "expiresAt:N", "expiryShard"]


def items(
    kind: str, count: int, seed: int = 20260101, now: float | None = None
) -> Iterator[dict[str, Any]]:
    """``count`` items of ``kind``, streamed (memory flat for any count)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible demo values, not secrets
    now = time.time() if now is None else now
    if kind == "devices":
        return _devices(rng, count, now)
    if kind == "users":
        return _users(count)
    return _sessions(rng, count, int(now))


def _owner(serial: int) -> str:
    return f"user-{(serial - 1) // DEVICES_PER_USER + 1:08d}"


def _devices(rng: random.Random, count: int, now: float) -> Iterator[dict[str, Any]]:
    start = datetime.fromtimestamp(now, UTC).replace(microsecond=0)
    for serial in range(1, count + 1):
        kind = rng.choice(demo._KINDS)
        seen = start - timedelta(seconds=rng.randint(0, 7 * 86400))
        yield {
            "deviceId": f"dev-{serial:08d}",
            "ownerId": _owner(serial),
            "name": f"{kind} {serial}",
            "state": rng.choice(demo._STATES),
            "lastUpdate": seen.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "kind": kind,
            "firmware": f"1.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
        }


def _users(count: int) -> Iterator[dict[str, Any]]:
    # User n owns devices (n-1)*8+1 .. n*8: the devices file of N*8 items names them.
    for index in range(1, count + 1):
        first = (index - 1) * DEVICES_PER_USER + 1
        yield {
            "userId": f"user-{index:08d}",
            "name": f"Demo User {index}",
            "email": f"user{index:08d}@example.com",
            "devices": {f"dev-{s:08d}" for s in range(first, first + DEVICES_PER_USER)},
        }


def _sessions(rng: random.Random, count: int, now: int) -> Iterator[dict[str, Any]]:
    users = max(1, count // 3)
    for n in range(count):
        user = f"user-{rng.randint(1, users):08d}"
        expires = (
            now - rng.randint(3600, 3 * 86400) if n % 4 == 0 else now + rng.randint(3600, 2 * 86400)
        )
        yield new_session(f"sess-{n:08d}", user, expires)
