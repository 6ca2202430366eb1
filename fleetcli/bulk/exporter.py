"""``fleet export``: a table to JSON Lines, JSON or CSV, streamed.

Items go from a (parallel) Scan straight to the file, one at a time: memory stays flat
for any table size. The file is written under a temporary name and renamed when complete,
so a file with the final name is always a whole export.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from typing import IO, Any

from dynabatch import BatchClient

from fleetcli.env import table_name

from .formats import ItemWriter
from .progress import progress_bar
from .values import DEFAULT_COLUMNS, ValueProblem

__all__ = ["ExportJob", "ExportOutcome", "ExportError", "run_export"]


class ExportError(Exception):
    """An item the chosen format cannot carry (the message names the item and the fix)."""


@dataclass
class ExportJob:
    """What to export, where, and how."""

    table: str
    path: str
    fmt: str
    dynamodb_json: bool = False
    columns: list[str] | None = None
    segments: int = 4
    progress: bool | None = None


@dataclass
class ExportOutcome:
    """Counts of one export."""

    items: int = 0
    dropped_attributes: int = 0
    seconds: float = 0.0


def _estimate(batch: BatchClient, physical: str) -> int | None:
    # DescribeTable's ItemCount is refreshed about every six hours: an ETA hint only.
    with contextlib.suppress(Exception):
        return int(batch.client.describe_table(TableName=physical)["Table"]["ItemCount"]) or None
    return None


def run_export(job: ExportJob, batch: BatchClient) -> ExportOutcome:
    """Write every item of the table to ``job.path`` (``-``: standard output).

    Raises
    ------
    ExportError
        An item the format cannot carry exactly (nothing is left under ``job.path``).
    """
    physical = table_name(job.table)
    columns = job.columns or DEFAULT_COLUMNS.get(job.table)
    outcome = ExportOutcome()
    started = time.perf_counter()
    to_stdout = job.path == "-"
    partial = job.path if to_stdout else f"{job.path}.part"
    stream: IO[str] = (
        sys.stdout if to_stdout else open(partial, "w", encoding="utf-8", newline="")  # noqa: SIM115
    )
    bar = progress_bar(job.progress, f"export {job.table}", _estimate(batch, physical))
    done = False
    try:
        writer = ItemWriter(stream, job.fmt, dynamodb_json=job.dynamodb_json, columns=columns)
        items: Any = (
            batch.parallel_scan(physical, job.segments)
            if job.segments > 1
            else batch.scan(physical)
        )
        for item in items:
            try:
                writer.write(item)
            except ValueProblem as problem:
                key = {k: item.get(k) for k in _key_names(batch, physical)}
                raise ExportError(f"{job.table} item {key}: {problem}") from None
            bar.update(1)
        writer.close()
        outcome.items, outcome.dropped_attributes = writer.count, writer.dropped
        done = True
    finally:
        bar.close()
        if not to_stdout:
            stream.close()
            if done:
                os.replace(partial, job.path)
            else:
                with contextlib.suppress(OSError):
                    os.remove(partial)
        outcome.seconds = time.perf_counter() - started
    return outcome


def _key_names(batch: BatchClient, physical: str) -> tuple[str, ...]:
    return batch.known_key_names(physical) or ()
