"""The scheduler shared by batch reads and writes.

One coordinating thread packs pending entries into requests (by count and by size), keeps
at most ``concurrency`` of them in flight, and feeds unprocessed entries back after a
backoff. Requests are in flight either on a thread pool (botocore's client, or an HTTP
session that only blocks) or, on the lean wire, on the coordinator itself: a
:class:`~dynabatch.wire.Multiplexer` keeps them on non-blocking sockets, with no hand-off
to a worker and back. Leftovers from a throttled request are merged into later requests
instead of being re-sent alone, so retries cost as few requests as possible.

Invariants the tests hold it to:

* an entry is in exactly one place: ready, delayed, isolating, blocked, in flight, done
  or given up (with a code and a reason), and every given-up entry is reported once;
* two entries with the same identity are never in flight together, so a key is never
  sent twice in one request and a later write for a key never races an earlier one;
* every entry is sent at most :func:`max_sends_per_op` times, so the loop is bounded;
* no request starts after the call's deadline and no wait runs past it;
* the source is pulled lazily, so memory stays bounded for any number of entries;
* after :meth:`Scheduler.abort` returns nothing is in flight and nothing is pending.
"""

from __future__ import annotations

import heapq
import queue
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ChecksumError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from .capacity import TokenBucket
from .constants import TABLE_ERROR_CODES
from .entries import (
    Builder,
    EngineEvent,
    Entry,
    Finisher,
    GivenUp,
    Outcome,
    Preparer,
    Sender,
    max_sends_per_op,
    split_limit,
)
from .metrics import CallStats
from .retry import Deadline, RetryPolicy, error_code, is_throttle, is_transient

if TYPE_CHECKING:
    from .wire import Call, Multiplexer

__all__ = ["Entry", "Outcome", "GivenUp", "EngineEvent", "Scheduler", "max_sends_per_op"]

#: DynamoDB's word for "this request (or an item in it) is invalid": worth isolating.
VALIDATION = "ValidationException"
INTERRUPTED = ("Aborted", "the request was interrupted; it may have been applied")


class Scheduler:
    """Sends entries in packed, parallel, retried requests; see the module docstring.

    Use :meth:`run` to drive it; if the consumer stops early (an exception anywhere, a
    closed stream), call :meth:`abort`, which settles what is in flight and gives up the
    rest, so that every entry is accounted for.
    """

    def __init__(
        self,
        send: Sender,
        *,
        executor: Executor | None,
        concurrency: int,
        max_count: int,
        max_bytes: int,
        policy: RetryPolicy,
        deadline: Deadline,
        stats: CallStats,
        bucket: TokenBucket | None = None,
        sleep: Callable[[float], None] = time.sleep,
        prepare: Preparer | None = None,
        multiplexer: tuple[Multiplexer, Builder, Finisher] | None = None,
    ) -> None:
        self.send = send
        self.prepare = prepare
        #: On the lean wire: requests in flight on this thread, built and read back by
        #: the two callables (``send`` is then unused).
        self.multiplexer = multiplexer
        self.calls: dict[Call, tuple[int, list[Entry], list[tuple[Entry, str, str]], float]] = {}
        #: Calls given up on the wire by an interrupt: reported as possibly applied.
        self.cancelled: set[Call] = set()
        self.executor = executor
        self.concurrency = concurrency
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.policy = policy
        self.deadline = deadline
        self.clock = deadline.clock
        self.stats = stats
        self.bucket = bucket
        self.sleep = sleep
        self.split_limit = split_limit(max_count)
        self.ready: OrderedDict[Hashable, Entry] = OrderedDict()
        self.delayed: list[tuple[float, int, Hashable]] = []
        self.delayed_entries: dict[Hashable, Entry] = {}
        self.isolating: deque[list[Entry]] = deque()
        self.isolating_idents: set[Hashable] = set()
        self.blocked: dict[Hashable, Entry] = {}
        #: Requests on the pool, by number; each posts ``(number, outcome)`` to ``done``.
        self.in_flight: dict[int, list[Entry]] = {}
        self.done: queue.SimpleQueue[tuple[int, Outcome]] = queue.SimpleQueue()
        #: Taken off ``done``, not settled yet: still in flight, for :meth:`abort` too.
        self.arrived: deque[tuple[int, Outcome]] = deque()
        self.requests_made = 0
        self.flying: set[Hashable] = set()
        self.failed_tables: dict[str, tuple[str, str]] = {}
        self.given_up: list[GivenUp] = []
        self.stopped: tuple[str, str] | None = None
        self.seq = 0
        self.superseded = 0
        self.source: Iterator[Entry] | None = None
        self.drain = False

    # -- accepting entries ----------------------------------------------------------

    def add(self, entry: Entry) -> None:
        """Queue a new entry; a later entry with the same identity replaces an earlier one."""
        ident = entry.ident
        if self.stopped is not None:
            self._give_up(entry, *self.stopped)
            return
        # Emptiness first: the usual case (nothing failed, nothing isolated) costs no lookup.
        if self.failed_tables and entry.table in self.failed_tables:
            self._give_up(entry, *self.failed_tables[entry.table])
            return
        if ident in self.flying or (self.isolating_idents and ident in self.isolating_idents):
            if ident in self.blocked:
                self.superseded += 1
            self.blocked[ident] = entry
            return
        if ident in self.ready:
            self.superseded += 1
            self.ready[ident] = entry
            return
        if self.delayed_entries and self.delayed_entries.pop(ident, None) is not None:
            # The stale heap slot is skipped when it comes due.
            self.superseded += 1
        self.ready[ident] = entry

    def _give_up(self, entry: Entry, code: str, reason: str) -> None:
        if code == "DeadlineExceeded" and not reason:
            reason = _after_deadline(entry)
        self.given_up.append(GivenUp(entry, code, reason))

    def promote_due(self) -> None:
        now = self.clock()
        while self.delayed and self.delayed[0][0] <= now:
            _, _, ident = heapq.heappop(self.delayed)
            entry = self.delayed_entries.pop(ident, None)
            if entry is not None:
                self.ready[ident] = entry

    # -- sending ---------------------------------------------------------------------

    def next_chunk(self) -> list[Entry]:
        if self.isolating:
            group = self.isolating.popleft()
            for entry in group:
                self.isolating_idents.discard(entry.ident)
            return self._drop_failed_tables(group)
        chunk: list[Entry] = []
        size = 0
        ready, failed = self.ready, self.failed_tables
        max_count, max_bytes = self.max_count, self.max_bytes
        while ready and len(chunk) < max_count:
            ident, entry = ready.popitem(last=False)
            if chunk and size + entry.size > max_bytes:
                ready[ident] = entry  # it opens the next request
                ready.move_to_end(ident, last=False)
                break
            if failed and entry.table in failed:
                self._give_up(entry, *failed[entry.table])
                continue
            chunk.append(entry)
            size += entry.size
        return chunk

    def _drop_failed_tables(self, chunk: list[Entry]) -> list[Entry]:
        kept = []
        for entry in chunk:
            if entry.table in self.failed_tables:
                self._give_up(entry, *self.failed_tables[entry.table])
            else:
                kept.append(entry)
        return kept

    def submit(self, chunk: list[Entry], here: bool = False) -> None:
        """Send ``chunk`` on the pool, or with ``here`` on this thread (it posts its
        outcome to :attr:`done` all the same, so it is settled like any other)."""
        if self.bucket is not None:
            units = sum(e.units for e in chunk)
            if self.bucket.acquire(units, self.deadline.remaining()) is None:
                for entry in chunk:
                    self._give_up(entry, "DeadlineExceeded", "")
                return
        for entry in chunk:
            entry.attempts += 1
        self.flying.update([entry.ident for entry in chunk])
        self.stats.requests += 1
        self.requests_made += 1
        number = self.requests_made
        self.in_flight[number] = chunk
        if self.multiplexer is not None:
            self._start(number, chunk)
            return
        if here:
            self._send_and_post(number, chunk)
            return
        assert self.executor is not None, "a Scheduler without a multiplexer needs a pool"
        try:
            self.executor.submit(self._send_and_post, number, chunk)
        except BaseException:
            # Not started: settled as never sent when the caller aborts.
            self.done.put((number, Outcome(sent=chunk, unprocessed=list(chunk), not_sent=True)))
            raise

    def _send_and_post(self, number: int, chunk: list[Entry]) -> None:
        # Runs on a pool thread (or the coordinator's, see run). The coordinator waits on
        # one queue for whichever request ends first: one cheap wake-up, where waiting on
        # futures locks every one of them. If the send itself is interrupted (Ctrl-C on
        # the coordinator's thread), the request may or may not have been applied.
        outcome = Outcome(sent=chunk, error=INTERRUPTED)
        try:
            outcome = self._send_safely(chunk)
        finally:
            self.done.put((number, outcome))

    def _prepared(
        self, chunk: list[Entry]
    ) -> tuple[list[Entry], list[tuple[Entry, str, str]], Outcome | None]:
        """The entries to send and those refused, or the outcome if nothing is sent."""
        if self.deadline.expired():
            # Queued past the deadline: it must not start after all.
            return chunk, [], Outcome(sent=chunk, unprocessed=list(chunk), not_sent=True)
        refused: list[tuple[Entry, str, str]] = []
        if self.prepare is not None:
            # Per-item work done here, once per request, rather than while packing.
            try:
                chunk, refused = self.prepare(chunk)
            except Exception as error:  # a request must never lose its entries
                return chunk, [], Outcome(sent=chunk, error=(type(error).__name__, str(error)))
            if not chunk:
                return chunk, refused, Outcome(sent=[], not_sent=True, refused=refused)
        return chunk, refused, None

    def _send_safely(self, chunk: list[Entry]) -> Outcome:
        # Runs on a pool thread: turn every failure into an Outcome so the coordinator
        # always learns what happened to each entry.
        chunk, refused, not_sent = self._prepared(chunk)
        if not_sent is not None:
            return not_sent
        started = time.perf_counter()
        outcome: Outcome = self._classified(chunk, lambda: self.send(chunk))
        outcome.duration = time.perf_counter() - started
        outcome.refused = refused
        return outcome

    def _start(self, number: int, chunk: list[Entry]) -> None:
        # The multiplexed counterpart of _send_and_post, on this thread: the request goes
        # out now and is read back by _wait_for_arrivals. If starting it is interrupted,
        # it may or may not have been sent.
        outcome: Outcome | None = Outcome(sent=chunk, error=INTERRUPTED)
        try:
            sent, refused, not_sent = self._prepared(chunk)
            if not_sent is not None:
                outcome = not_sent
            else:
                # None once the request is on its way (it is then in self.calls).
                launched = self._classified(sent, lambda: self._launch(number, sent, refused))
                if launched is not None:
                    launched.refused = refused
                outcome = launched
        finally:
            if outcome is not None:
                self.arrived.append((number, outcome))

    def _launch(
        self, number: int, chunk: list[Entry], refused: list[tuple[Entry, str, str]]
    ) -> None:
        assert self.multiplexer is not None
        multiplexer, build, _ = self.multiplexer
        started = time.perf_counter()
        call = multiplexer.start(*build(chunk))
        self.calls[call] = (number, chunk, refused, started)

    def _read_back(self, call: Call) -> None:
        assert self.multiplexer is not None
        finish = self.multiplexer[2]
        started_call = self.calls.pop(call, None)
        if started_call is None:
            return  # interrupted as it started: already reported as possibly applied
        number, chunk, refused, started = started_call
        outcome = Outcome(sent=chunk, error=INTERRUPTED)
        if call in self.cancelled:
            self.arrived.append((number, outcome))
            return
        try:
            outcome = self._classified(chunk, lambda: finish(chunk, call.result()))
            outcome.duration = time.perf_counter() - started
            outcome.refused = refused
        finally:
            self.arrived.append((number, outcome))

    def _classified(self, chunk: list[Entry], work: Callable[[], Any]) -> Any:
        """What ``work`` returns, or the Outcome of ``chunk`` for the failure it raised."""
        try:
            return work()
        except ClientError as error:
            if is_transient(error):
                return Outcome(sent=chunk, unprocessed=list(chunk), throttled=is_throttle(error))
            message = str(error.response.get("Error", {}).get("Message", error))
            return Outcome(sent=chunk, error=(error_code(error), message))
        except (BotoConnectionError, HTTPClientError, ChecksumError):
            # Connection trouble or a body damaged on the way (the lean wire checks
            # x-amz-crc32, as botocore's retry handler does): transient, try again.
            return Outcome(sent=chunk, unprocessed=list(chunk))
        except BotoCoreError as error:
            return Outcome(sent=chunk, error=(type(error).__name__, str(error)))
        except Exception as error:  # a worker must never lose its entries
            return Outcome(sent=chunk, error=(type(error).__name__, str(error)))

    # -- receiving -------------------------------------------------------------------

    def settle(self, outcome: Outcome) -> EngineEvent:
        event = EngineEvent(outcome=outcome)
        self.flying.difference_update([entry.ident for entry in outcome.sent])
        for entry, code, reason in outcome.refused:
            self.flying.discard(entry.ident)
            entry.attempts -= 1  # never sent
            self._give_up(entry, code, reason)
        if outcome.not_sent:
            for entry in outcome.sent:
                entry.attempts -= 1
            self.stats.requests -= 1
        if self.bucket is not None and outcome.consumed is not None:
            actual = sum(float(c.get("CapacityUnits", 0.0)) for c in outcome.consumed)
            self.bucket.adjust(actual - sum(e.units for e in outcome.sent))
        if outcome.throttled:
            self.stats.throttles += 1
        if outcome.error is not None:
            self._settle_error(outcome.sent, *outcome.error)
        retry: list[Entry] = []
        for entry in outcome.unprocessed:
            if entry.ident in self.blocked:
                self.superseded += 1
            elif self.stopped is not None:
                self._give_up(entry, *self.stopped)
            elif self._spent(entry, outcome):
                self._give_up(
                    entry,
                    "RetriesExhausted",
                    f"still unprocessed after {entry.attempts} send(s), the retry budget",
                )
            else:
                if outcome.size_cut:
                    entry.attempts -= 1
                retry.append(entry)
        self.stats.retried += len(retry)
        if retry:
            self._schedule_retry(retry, outcome.size_cut)
        if self.blocked:
            for entry in [*outcome.sent, *(refused for refused, _, _ in outcome.refused)]:
                newer = self.blocked.pop(entry.ident, None)
                if newer is not None:
                    self.add(newer)
        return event

    def _settle_error(self, sent: list[Entry], code: str, message: str) -> None:
        live = []
        for entry in sent:
            if entry.ident in self.blocked:
                self.superseded += 1  # a newer op on the key replaces it
            else:
                live.append(entry)
        if not live:
            return
        tables = {entry.table for entry in live}
        if code in TABLE_ERROR_CODES and len(tables) > 1:
            # Which table is missing? Ask each alone; the healthy ones go through.
            self._isolate([[e for e in live if e.table == t] for t in sorted(tables)])
        elif code in TABLE_ERROR_CODES:
            self.failed_tables[live[0].table] = (code, message)
            for entry in live:
                self._give_up(entry, code, message)
        elif code == VALIDATION and len(live) > 1:
            # One op poisons the request: halve until it stands alone, write the rest.
            half = len(live) // 2
            self._isolate([live[:half], live[half:]])
        else:
            for entry in live:
                self._give_up(entry, code, message)

    def _isolate(self, groups: list[list[Entry]]) -> None:
        if self.stopped is not None:
            for group in groups:
                for entry in group:
                    self._give_up(entry, *self.stopped)
            return
        for group in reversed(groups):
            kept = []
            for entry in group:
                if entry.splits < self.split_limit:
                    entry.splits += 1
                    entry.attempts -= 1  # isolating is not a retry
                if entry.attempts >= self.policy.max_attempts:
                    self._give_up(entry, "RetriesExhausted", "retry budget spent isolating")
                else:
                    kept.append(entry)
                    self.isolating_idents.add(entry.ident)
            if kept:
                self.isolating.appendleft(kept)

    def _spent(self, entry: Entry, outcome: Outcome) -> bool:
        # A 16 MB cut is progress, not a failed attempt: it does not use up the budget.
        return entry.attempts >= self.policy.max_attempts and not outcome.size_cut

    def _schedule_retry(self, retry: list[Entry], at_once: bool) -> None:
        if at_once:
            for entry in retry:
                self.ready[entry.ident] = entry
            return
        # Leftovers of requests that finish close together join one retry round, so they
        # travel in one request instead of one small request each.
        now = self.clock()
        if self.delayed and self.delayed[-1][0] > now:
            due = max(due for due, _, _ in self.delayed)
        else:
            due = now + self.policy.backoff(max(e.attempts for e in retry))
        if self.deadline.at is not None and due >= self.deadline.at:
            for entry in retry:
                self._give_up(entry, "DeadlineExceeded", _after_deadline(entry))
            return
        for entry in retry:
            self.seq += 1
            self.delayed_entries[entry.ident] = entry
            heapq.heappush(self.delayed, (due, self.seq, entry.ident))

    # -- stopping --------------------------------------------------------------------

    def _pending(self) -> Iterator[Entry]:
        yield from self.ready.values()
        yield from self.delayed_entries.values()
        for group in self.isolating:
            yield from group
        yield from self.blocked.values()

    def _give_up_pending(self, code: str, reason: str) -> None:
        for entry in self._pending():
            self._give_up(entry, code, reason)
        self.ready.clear()
        self.delayed.clear()
        self.delayed_entries.clear()
        self.isolating.clear()
        self.isolating_idents.clear()
        self.blocked.clear()

    def _take_given_up(self) -> list[GivenUp]:
        given_up, self.given_up = self.given_up, []
        self.stats.given_up += len(given_up)
        return given_up

    def abort(self, cause: BaseException) -> list[EngineEvent]:
        """Stop: send nothing more, settle every request in flight, give up the rest.

        Returns the events of the settled requests and of every entry given up (code
        ``Aborted``), so that the caller can account for each one.
        """
        self.stopped = ("Aborted", f"not done: the call stopped on {type(cause).__name__}: {cause}")
        if self.multiplexer is not None and isinstance(cause, (KeyboardInterrupt, SystemExit)):
            # Interrupted (Ctrl-C, exit): do not wait for answers still on the way; those
            # requests may have been applied, and are reported so. Answers already in
            # are read as usual.
            for call in self.calls:
                if not call.done:
                    self.multiplexer[0].cancel(call)
                    self.cancelled.add(call)
        events: list[EngineEvent] = []
        while self.in_flight:
            if self.arrived:
                number, outcome = self.arrived.popleft()
            elif self.calls:
                self._wait_for_arrivals(None)
                continue
            elif self.multiplexer is not None:  # a guard: each is in calls or arrived
                number = next(iter(self.in_flight))
                outcome = Outcome(sent=self.in_flight[number], error=INTERRUPTED)
            else:
                number, outcome = self.done.get()
            if self.in_flight.pop(number, None) is not None:
                events.append(self.settle(outcome))
        self._give_up_pending(*self.stopped)
        if self.drain and self.source is not None:
            # A list's entries were all given: those not pulled yet are reported too.
            for entry in self.source:
                self._give_up(entry, *self.stopped)
        events.append(EngineEvent(given_up=self._take_given_up(), superseded=self.superseded))
        self.superseded = 0
        return events

    # -- the loop --------------------------------------------------------------------

    def _stop_at_deadline(self, source: Iterator[Entry], drain: bool) -> None:
        self.stopped = ("DeadlineExceeded", "")
        self._give_up_pending("DeadlineExceeded", "")
        for entry in source:
            self._give_up(entry, "DeadlineExceeded", "")
            if not drain:
                break

    def run(self, source: Iterator[Entry], *, drain_on_deadline: bool) -> Iterator[EngineEvent]:
        """Pull ``source`` lazily and yield an event per finished request, in completion
        order, plus events for entries given up.

        At the deadline nothing more is sent; what is pending is given up
        (``DeadlineExceeded``). With ``drain_on_deadline`` (a list's entries, already
        made) the rest of the source is given up too; otherwise (a generator) one more op
        is pulled and given up, to tell the caller the source was not finished.
        """
        buffer_target = self.concurrency * self.max_count * 2
        max_count = self.max_count
        exhausted = False
        self.source, self.drain = source, drain_on_deadline
        while True:
            if self.deadline.expired() and self.stopped is None:
                self._stop_at_deadline(source, drain_on_deadline)
                exhausted = True
            self.promote_due()
            while True:
                # A request leaves as soon as it is full and a slot is free, then pulling
                # goes on: the first answers are on their way while later ops are made.
                ready, add = self.ready, self.add
                # One more than a request (so its chunk is not the last) when a slot is free.
                enough = max_count if len(self.in_flight) < self.concurrency else buffer_target
                while not exhausted and len(ready) < buffer_target:
                    pulled = next(source, None)
                    if pulled is None:
                        exhausted = True
                        break
                    add(pulled)
                    if len(ready) > enough:
                        break
                sent = False
                while len(self.in_flight) < self.concurrency and (self.ready or self.isolating):
                    if self.stopped is not None or self.deadline.expired():
                        break
                    if not (exhausted or self.isolating or len(self.ready) >= max_count):
                        break  # not a full request yet: pull more first
                    chunk = self.next_chunk()
                    if chunk:
                        # The last request of the call goes out on this thread, which
                        # would otherwise only wait: a call of one request (a user's
                        # device list) pays no hand-off to a worker and back.
                        self.submit(chunk, here=exhausted and not (self.ready or self.isolating))
                        sent = True
                if not sent or exhausted or len(self.in_flight) >= self.concurrency:
                    break
            if self.given_up or self.superseded:
                yield EngineEvent(given_up=self._take_given_up(), superseded=self.superseded)
                self.superseded = 0
            if not self.in_flight:
                if self.ready or self.isolating:
                    continue
                if self.delayed:
                    self.sleep(self.deadline.clip(max(0.0, self.delayed[0][0] - self.clock())))
                    continue
                if exhausted:
                    break
                continue
            timeout = max(0.0, self.delayed[0][0] - self.clock()) if self.delayed else None
            if timeout is not None:
                timeout = self.deadline.clip(timeout)
            self._wait_for_arrivals(timeout)
            while self.arrived:
                number, outcome = self.arrived.popleft()
                if self.in_flight.pop(number, None) is None:
                    continue
                # Popped and settled one at a time: if the consumer stops at this event,
                # the outcomes after it are still in flight for abort() to settle.
                event = self.settle(outcome)
                event.given_up = self._take_given_up()
                event.superseded, self.superseded = self.superseded, 0
                yield event
        if self.superseded or self.given_up:
            yield EngineEvent(given_up=self._take_given_up(), superseded=self.superseded)
            self.superseded = 0

    def _wait_for_arrivals(self, timeout: float | None) -> None:
        """Move every request that ended to :attr:`arrived`, waiting up to ``timeout``
        for the first one."""
        if self.multiplexer is not None:
            for call in self.multiplexer[0].wait(timeout):
                self._read_back(call)
            return
        try:
            self.arrived.append(self.done.get(timeout=timeout))
        except queue.Empty:
            return
        while True:
            try:
                self.arrived.append(self.done.get_nowait())
            except queue.Empty:
                return


def _after_deadline(entry: Entry) -> str:
    if entry.attempts:
        return f"the call's deadline passed after {entry.attempts} send(s)"
    return "the call's deadline passed before it was sent"
