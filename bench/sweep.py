"""Peak memory of deleting N expired sessions, each measurement in a fresh process.

``python -m bench.sweep --url URL --n N --what keys|sweeper`` prints one JSON line.
``keys``: a generator of N session keys streamed through ``BatchClient.delete_items``.
``sweeper``: the functions' own ``fleet.sweeper.Sweeper`` (expiry-index Query pages,
consistent re-read, delete), against the responder's synthetic expiry index.
Peak is ``tracemalloc``'s, taken around the deletion alone, after the client is built
and warm, so that what is measured is what grows with N.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import boto3
import dynabatch
from botocore.config import Config

__all__ = ["main"]

SESSIONS_TABLE = "sessions"


def expired_session_keys(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {"sessionId": f"s-{i:08d}"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep")
    parser.add_argument("--url", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--what", choices=["keys", "sweeper"], default="keys")
    args = parser.parse_args(argv)
    client = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=args.url,
        config=Config(max_pool_connections=dynabatch.DEFAULT_CONCURRENCY),
    )
    batch = dynabatch.BatchClient(client, key_schemas={SESSIONS_TABLE: ("sessionId",)})
    batch.delete_items(SESSIONS_TABLE, expired_session_keys(30))  # warm: models, pool
    if args.what == "sweeper":
        from fleet.sweeper import Sweeper

        sweeper = Sweeper(batch, SESSIONS_TABLE)

    tracemalloc.start()
    started = time.perf_counter()
    if args.what == "keys":
        deleted = batch.delete_items(SESSIONS_TABLE, expired_session_keys(args.n)).written
    else:
        deleted = sweeper.sweep(now=2_000_000_000).deleted
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    batch.close()
    print(
        json.dumps(
            {
                "n": args.n,
                "what": args.what,
                "deleted": deleted,
                "peak_bytes": peak,
                "seconds": seconds,
            }
        )
    )


def measure_sweeps(ns: list[int], whats: list[str], log: Any = print) -> list[dict[str, Any]]:
    """Run each (what, n) in its own process against a fresh responder; check every delete."""
    import subprocess
    import sys

    from .servers import Endpoint

    rows = []
    with Endpoint("client-bound", 0) as endpoint:
        for what in whats:
            for n in ns:
                endpoint.reset(expired_sessions=n if what == "sweeper" else 0)
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bench.sweep",
                        "--url",
                        endpoint.url,
                        "--n",
                        str(n),
                        "--what",
                        what,
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                row = json.loads(out.stdout.strip().splitlines()[-1])
                stats = endpoint.stats()
                row["removed"] = stats["removed"].get(SESSIONS_TABLE, 0)
                row["requests"] = stats["total_requests"]
                if row["removed"] != n or row["deleted"] != n:
                    raise AssertionError(f"sweep {what} {n}: {row}")
                log(
                    f"  sweep {what} {n:,}: peak {row['peak_bytes'] / 1e6:.2f} MB, "
                    f"{row['seconds']:.1f} s"
                )
                rows.append(row)
    return rows


if __name__ == "__main__":
    main()
