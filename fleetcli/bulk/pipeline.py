"""Slices of an import written side by side, settled in file order: the watermark.

A slice is a run of consecutive records written with one ``write_items`` call. Up to
``lanes`` slices are written at once, so a slice whose items DynamoDB keeps refusing backs
off while the slices after it go on. Slices are *settled* (their rejects written, the
checkpoint moved past them) strictly in file order: the checkpoint is always the first
record not yet settled, the watermark. Later slices that finished early wait only as a few
counters, never as items.

Two slices holding the same key are never written at once: the second waits for the
first, so the last record of a key in the file is the one stored.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dynabatch import BatchClient, Put, WriteResult

from .formats import Record

__all__ = ["Slice", "Pipeline"]


@dataclass
class Slice:
    """Consecutive records, their keys (digests), and what writing them gave."""

    seq: int
    #: Position (offset, line) just past the slice's last record, and records read.
    end: tuple[int, int] = (0, 1)
    read: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)
    keys: set[bytes] = field(default_factory=set)
    #: Items refused before sending: over 400 KB, never writable as they are.
    too_large: list[dict[str, Any]] = field(default_factory=list)
    result: WriteResult | None = None
    error: BaseException | None = None

    def add(self, record: Record, key: bytes) -> None:
        """One record to write."""
        self.items.append(record.item)
        self.keys.add(key)
        self.passed(record)

    def passed(self, record: Record) -> None:
        """One record read (written or not): the slice ends after it."""
        self.end = (record.end, record.next_line)
        self.read += 1


class Pipeline:
    """Writes slices ``lanes`` at a time; hands them to ``settle`` in file order."""

    def __init__(
        self, batch: BatchClient, table: str, lanes: int, settle: Callable[[Slice], None]
    ) -> None:
        self.batch, self.table, self.lanes, self.settle = batch, table, lanes, settle
        self._finished: queue.Queue[Slice] = queue.Queue()
        self._running: dict[int, Slice] = {}
        self._waiting: dict[int, Slice] = {}
        self._next = 0

    def submit(self, work: Slice) -> None:
        """Start writing ``work`` once a lane is free (and no running slice shares a key)."""
        if not work.read:
            return
        while len(self._running) >= self.lanes:
            self._collect()
        while any(work.keys & other.keys for other in self._running.values()):
            self._collect()
        if not work.items:
            self._done(work)
            return
        self._running[work.seq] = work
        # A daemon thread: Ctrl-C ends the process without waiting for its retries; the
        # checkpoint has not moved past the slice, so nothing is lost.
        threading.Thread(target=self._write, args=(work,), daemon=True).start()

    def drain(self) -> None:
        """Wait until every submitted slice is settled."""
        while self._running:
            self._collect()

    def _write(self, work: Slice) -> None:
        try:
            ops = [Put(self.table, item) for item in work.items]
            work.result = self.batch.write_items(ops, raise_on_unprocessed=False)
        except BaseException as error:
            work.error = error
        self._finished.put(work)

    def _collect(self) -> None:
        work = self._finished.get()
        del self._running[work.seq]
        if work.error is not None:
            raise work.error
        self._done(work)

    def _done(self, work: Slice) -> None:
        self._waiting[work.seq] = work
        while self._next in self._waiting:
            self.settle(self._waiting.pop(self._next))
            self._next += 1
