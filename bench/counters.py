"""What the benchmark servers count: requests by operation, requests in flight, keys stored.

Every figure of "requests sent" and "in flight at most" in the table is counted here, at
the server, never trusted from the client being measured.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

__all__ = ["Counters"]


class Counters:
    """Thread-safe tallies of one server process, reset between measured runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: Counter[str] = Counter()
            self.in_flight = 0
            self.max_in_flight = 0
            self.connections = 0
            self.items_read = 0
            self.puts = 0
            self.deletes = 0
            self.unprocessed = 0
            # Only the keys: enough to prove "items stored = items sent" without storing items.
            self.written: dict[str, set[str]] = {}
            self.deleted: dict[str, set[str]] = {}
            self._tick = 0

    def enter(self, operation: str) -> None:
        with self._lock:
            self.requests[operation] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def connected(self) -> None:
        with self._lock:
            self.connections += 1

    def take_unprocessed(self, every: int) -> bool:
        """True for every ``every``-th item seen (0: never): deterministic UnprocessedItems."""
        if every <= 0:
            return False
        with self._lock:
            self._tick += 1
            hit = self._tick % every == 0
            self.unprocessed += hit
            return hit

    def record(self, table: str, puts: list[str], deletes: list[str], read: int) -> None:
        with self._lock:
            self.puts += len(puts)
            self.deletes += len(deletes)
            self.items_read += read
            if puts:
                self.written.setdefault(table, set()).update(puts)
            if deletes:
                self.deleted.setdefault(table, set()).update(deletes)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "total_requests": sum(self.requests.values()),
                "max_in_flight": self.max_in_flight,
                "connections": self.connections,
                "items_read": self.items_read,
                "puts": self.puts,
                "deletes": self.deletes,
                "unprocessed": self.unprocessed,
                "stored": {t: len(keys) for t, keys in self.written.items()},
                "removed": {t: len(keys) for t, keys in self.deleted.items()},
                # The server process's own CPU so far: the harness takes differences, to
                # show whether the server, not the client, was the limit of a run.
                "server_cpu": time.process_time(),
            }
