"""The expired-session sweeper: deletes exactly the sessions whose ``expiresAt`` is past.

How it finds them without reading the table: the sparse expiry index holds every session
under its shard, sorted by ``expiresAt``; ``expiresAt <= now`` on each shard reads expired
sessions only, page by page. The read cost grows with the number of expired sessions,
never with the table.

Why it re-reads before deleting: a GSI is eventually consistent. A session refreshed
shortly before the run may still show its old ``expiresAt`` in the index, so every page of
candidates is re-read with a consistent BatchGetItem and only those still expired are
deleted. Sessions are only ever refreshed while live, so one found expired by a
consistent read cannot come back to life between that read and the delete.

How it stays in time: before every index page it checks the invocation's remaining time
and stops when less than the safety margin is left; the next run starts again from the
oldest expired sessions, which are exactly those left. Two overlapping runs are harmless:
deleting a deleted session is a no-op, and each re-read sees the other's deletes.

Memory stays flat: index pages feed a generator of keys that ``delete_items`` pulls
lazily and deletes in parallel BatchWriteItem calls; nothing collects the whole set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key
from dynabatch import BatchClient

from .sessions import shards
from .tables import EXPIRY_INDEX

__all__ = ["SweepReport", "Sweeper", "PAGE_SIZE"]

#: Index keys read per page: one page becomes five consistent BatchGetItem calls in
#: parallel, and it is the step at which the sweeper checks its remaining time.
PAGE_SIZE = 500


@dataclass
class SweepReport:
    """What one run did (returned by the function as JSON)."""

    deleted: int = 0
    skipped_not_expired: int = 0
    already_gone: int = 0
    unchecked: int = 0
    unprocessed: int = 0
    pages: int = 0
    stopped_early: bool = False
    took_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The report as a JSON-able dict."""
        return asdict(self)


class Sweeper:
    """Deletes expired sessions through the expiry index.

    Parameters
    ----------
    batch:
        The batch layer client (a bulk retry budget: no per-call deadline).
    sessions_table:
        Deployed name of the sessions table.
    page_size:
        Index keys per Query page.
    """

    def __init__(
        self, batch: BatchClient, sessions_table: str, *, page_size: int = PAGE_SIZE
    ) -> None:
        self.batch = batch
        self.sessions_table = sessions_table
        self.page_size = page_size

    def sweep(
        self,
        now: int | None = None,
        *,
        time_left: Callable[[], float] | None = None,
        margin_seconds: float = 10.0,
    ) -> SweepReport:
        """Delete sessions with ``expiresAt <= now``.

        Parameters
        ----------
        now:
            Epoch seconds; default the current time.
        time_left:
            Seconds left in this invocation (``context.get_remaining_time_in_millis() /
            1000``); ``None``: no limit.
        margin_seconds:
            No new index page is started with less than this left.
        """
        started = time.perf_counter()
        now = int(time.time()) if now is None else now
        report = SweepReport()

        def out_of_time() -> bool:
            return time_left is not None and time_left() < margin_seconds

        keys = self._expired_keys(now, report, out_of_time)
        result = self.batch.delete_items(self.sessions_table, keys, raise_on_unprocessed=False)
        report.deleted = result.written
        # Left for the next run: it finds them in the index again.
        report.unprocessed = result.unprocessed_count
        report.took_ms = round((time.perf_counter() - started) * 1000.0, 1)
        return report

    def _expired_keys(
        self, now: int, report: SweepReport, out_of_time: Callable[[], bool]
    ) -> Iterator[dict[str, Any]]:
        for shard in shards():
            condition = Key(EXPIRY_INDEX.partition.name).eq(shard) & Key("expiresAt").lte(now)
            pages = self.batch.query_pages(
                self.sessions_table,
                condition,
                index_name=EXPIRY_INDEX.name,
                page_size=self.page_size,
            )
            while True:
                if out_of_time():
                    report.stopped_early = True
                    return
                page = next(pages, None)
                if page is None:
                    break
                report.pages += 1
                yield from self._still_expired(page.items, now, report)

    def _still_expired(
        self, candidates: list[dict[str, Any]], now: int, report: SweepReport
    ) -> Iterator[dict[str, Any]]:
        if not candidates:
            return
        keys = [{"sessionId": c["sessionId"]} for c in candidates]
        result = self.batch.get_items(
            {self.sessions_table: keys},
            projection=["expiresAt"],
            consistent_read=True,
            raise_on_unprocessed=False,
        )
        current = {s["sessionId"]: s for s in result.items.get(self.sessions_table, [])}
        report.unchecked += len(result.unprocessed.get(self.sessions_table, ()))
        report.already_gone += len(result.missing.get(self.sessions_table, ()))
        for key in keys:
            session = current.get(key["sessionId"])
            if session is None:
                continue
            expires = session.get("expiresAt")
            if isinstance(expires, (int, Decimal)) and expires <= now:
                yield key
            else:
                report.skipped_not_expired += 1
