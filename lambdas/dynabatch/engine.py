"""The scheduler shared by batch reads and writes.

One coordinating thread packs pending entries into requests (by count and by size), keeps
at most ``concurrency`` of them in flight on a thread pool, and feeds unprocessed entries
back after a backoff. Leftovers from a throttled request are merged into later requests
instead of being re-sent alone, so retries cost as few requests as possible.

Invariants the tests hold it to:

* an entry is in exactly one place: ready, delayed, blocked, in flight, done or given up;
* two entries with the same identity are never in flight together, so a key is never
  sent twice in one request and a later write for a key never races an earlier one;
* every entry is sent at most ``policy.max_attempts`` times, so the loop is bounded;
* the source is pulled lazily, so memory stays bounded for any number of entries.
"""

from __future__ import annotations

import heapq
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from .capacity import TokenBucket
from .metrics import CallStats
from .retry import RetryPolicy, error_code, is_throttle

__all__ = ["Entry", "Outcome", "run_engine"]


@dataclass(slots=True)
class Entry:
    """One key to read or one write request, in wire (DynamoDB JSON) form."""

    table: str
    ident: Hashable
    request: Any
    size: int
    units: float = 1.0
    attempts: int = 0


@dataclass
class Outcome:
    """What a send reported back for one request."""

    sent: list[Entry]
    unprocessed: list[Entry] = field(default_factory=list)
    payload: Any = None
    consumed: list[dict[str, Any]] | None = None
    throttled: bool = False
    # BatchGetItem cut its response at 16 MB: go on at once, this is not throttling.
    size_cut: bool = False
    error: tuple[str, str] | None = None


@dataclass
class EngineEvent:
    """Yielded to the caller: a finished request, or entries the layer gave up on."""

    outcome: Outcome | None = None
    given_up: list[Entry] = field(default_factory=list)
    superseded: int = 0


Sender = Callable[[list[Entry]], Outcome]


class _Scheduler:
    def __init__(
        self,
        send: Sender,
        executor: Executor,
        concurrency: int,
        max_count: int,
        max_bytes: int,
        policy: RetryPolicy,
        stats: CallStats,
        bucket: TokenBucket | None,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.send = send
        self.executor = executor
        self.concurrency = concurrency
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.policy = policy
        self.stats = stats
        self.bucket = bucket
        self.clock = clock
        self.sleep = sleep
        self.started = clock()
        self.ready: OrderedDict[Hashable, Entry] = OrderedDict()
        self.delayed: list[tuple[float, int, Hashable]] = []
        self.delayed_entries: dict[Hashable, Entry] = {}
        self.blocked: dict[Hashable, Entry] = {}
        self.in_flight: dict[Future[Outcome], list[Entry]] = {}
        self.flying: set[Hashable] = set()
        self.seq = 0
        self.superseded = 0

    # -- accepting entries ----------------------------------------------------------

    def add(self, entry: Entry) -> None:
        """Queue a new entry; a later entry with the same identity replaces an earlier one."""
        ident = entry.ident
        if ident in self.flying:
            if ident in self.blocked:
                self.superseded += 1
            self.blocked[ident] = entry
            return
        if ident in self.ready:
            self.superseded += 1
            self.ready[ident] = entry
            return
        if self.delayed_entries.pop(ident, None) is not None:
            # The stale heap slot is skipped when it comes due.
            self.superseded += 1
        self.ready[ident] = entry

    def promote_due(self) -> None:
        now = self.clock()
        while self.delayed and self.delayed[0][0] <= now:
            _, _, ident = heapq.heappop(self.delayed)
            entry = self.delayed_entries.pop(ident, None)
            if entry is not None:
                self.ready[ident] = entry

    # -- sending ---------------------------------------------------------------------

    def next_chunk(self) -> list[Entry]:
        chunk: list[Entry] = []
        size = 0
        while self.ready and len(chunk) < self.max_count:
            ident, entry = next(iter(self.ready.items()))
            if chunk and size + entry.size > self.max_bytes:
                break
            del self.ready[ident]
            chunk.append(entry)
            size += entry.size
        return chunk

    def submit(self, chunk: list[Entry]) -> None:
        if self.bucket is not None:
            self.bucket.acquire(sum(e.units for e in chunk))
        for entry in chunk:
            entry.attempts += 1
            self.flying.add(entry.ident)
        self.stats.requests += 1
        self.in_flight[self.executor.submit(self._send_safely, chunk)] = chunk

    def _send_safely(self, chunk: list[Entry]) -> Outcome:
        # Runs on a pool thread: turn every failure into an Outcome so the coordinator
        # always learns what happened to each entry.
        try:
            return self.send(chunk)
        except ClientError as error:
            if is_throttle(error):
                return Outcome(sent=chunk, unprocessed=list(chunk), throttled=True)
            message = str(error.response.get("Error", {}).get("Message", error))
            return Outcome(sent=chunk, error=(error_code(error), message))
        except (BotoConnectionError, HTTPClientError):
            # Connection trouble that botocore already retried: transient, back off and
            # try again rather than give the items up.
            return Outcome(sent=chunk, unprocessed=list(chunk), throttled=True)
        except BotoCoreError as error:
            return Outcome(sent=chunk, error=(type(error).__name__, str(error)))

    # -- receiving -------------------------------------------------------------------

    def settle(self, outcome: Outcome) -> EngineEvent:
        event = EngineEvent(outcome=outcome)
        for entry in outcome.sent:
            self.flying.discard(entry.ident)
        if self.bucket is not None and outcome.consumed is not None:
            actual = sum(float(c.get("CapacityUnits", 0.0)) for c in outcome.consumed)
            self.bucket.adjust(actual - sum(e.units for e in outcome.sent))
        if outcome.throttled:
            self.stats.throttles += 1
        if outcome.error is not None:
            event.given_up.extend(e for e in outcome.sent if e.ident not in self.blocked)
        retry: list[Entry] = []
        for entry in outcome.unprocessed:
            if entry.ident in self.blocked:
                self.superseded += 1
            elif self._out_of_budget(entry, outcome):
                event.given_up.append(entry)
            else:
                if outcome.size_cut:
                    entry.attempts -= 1
                retry.append(entry)
        self.stats.retried += len(retry)
        if retry:
            if outcome.size_cut:
                for entry in retry:
                    self.ready[entry.ident] = entry
            else:
                due = self._retry_due(max(e.attempts for e in retry))
                for entry in retry:
                    self.seq += 1
                    self.delayed_entries[entry.ident] = entry
                    heapq.heappush(self.delayed, (due, self.seq, entry.ident))
        for entry in outcome.sent:
            newer = self.blocked.pop(entry.ident, None)
            if newer is not None:
                self.add(newer)
        self.stats.given_up += len(event.given_up)
        return event

    def _out_of_budget(self, entry: Entry, outcome: Outcome) -> bool:
        # A 16 MB cut is progress, not a failed attempt: it does not use up the budget.
        spent = entry.attempts >= self.policy.max_attempts and not outcome.size_cut
        return spent or self._past_deadline()

    def _retry_due(self, attempts: int) -> float:
        # Leftovers of requests that finish close together join one retry round, so they
        # travel in one request instead of one small request each.
        now = self.clock()
        if self.delayed and self.delayed[-1][0] > now:
            return max(due for due, _, _ in self.delayed)
        return now + self.policy.backoff(attempts)

    def _past_deadline(self) -> bool:
        deadline = self.policy.deadline
        return deadline is not None and self.clock() - self.started >= deadline

    # -- the loop --------------------------------------------------------------------

    def run(self, source: Iterator[Entry]) -> Iterator[EngineEvent]:
        buffer_target = self.concurrency * self.max_count * 2
        exhausted = False
        while True:
            while not exhausted and len(self.ready) < buffer_target:
                entry = next(source, None)
                if entry is None:
                    exhausted = True
                else:
                    self.add(entry)
            self.promote_due()
            while len(self.in_flight) < self.concurrency and self.ready:
                self.submit(self.next_chunk())
            if not self.in_flight:
                if self.ready:
                    continue
                if self.delayed:
                    self.sleep(max(0.0, self.delayed[0][0] - self.clock()))
                    continue
                if exhausted:
                    break
                continue
            timeout = max(0.0, self.delayed[0][0] - self.clock()) if self.delayed else None
            done, _ = wait(self.in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                self.in_flight.pop(future)
                event = self.settle(future.result())
                event.superseded, self.superseded = self.superseded, 0
                yield event
        if self.superseded:
            yield EngineEvent(superseded=self.superseded)
            self.superseded = 0


def run_engine(
    entries: Iterable[Entry],
    send: Sender,
    *,
    executor: Executor,
    concurrency: int,
    max_count: int,
    max_bytes: int,
    policy: RetryPolicy,
    stats: CallStats,
    bucket: TokenBucket | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[EngineEvent]:
    """Send ``entries`` through ``send`` in packed, parallel, retried requests.

    Yields one event per finished request (and one for entries given up), in completion
    order, so callers can stream results while later requests are still in flight.
    """
    scheduler = _Scheduler(
        send, executor, concurrency, max_count, max_bytes, policy, stats, bucket, clock, sleep
    )
    return scheduler.run(iter(entries))
