"""``fleet export``: a table to JSON Lines, JSON or CSV, streamed.

Items go from a (parallel) Scan straight to the file, one at a time: memory stays flat
for any table size. The file is written under a temporary name and renamed when complete,
so a file with the final name is always a whole export.

CSV without ``--columns`` holds every attribute: the Scan is spooled to a temporary JSON
Lines file (DynamoDB JSON, lossless) while the attribute names and types are gathered,
then the CSV is written from the spool with a ``name:TYPE`` header for every attribute
that is not a string. One Scan, and ``fleet import`` reads the CSV back as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from dynabatch import BatchClient, deserialize_item, serialize_item
from fleet.records import TYPE_HINTS, ValueProblem, wire_from_json, wire_to_json

from .formats import ItemWriter
from .progress import progress_bar
from .tables import TableInfo

__all__ = ["ExportJob", "ExportOutcome", "ExportError", "run_export", "csv_columns"]


class ExportError(Exception):
    """An item the chosen format cannot carry (the message names the item and the fix)."""


@dataclass
class ExportJob:
    """What to export, where, and how."""

    table: TableInfo
    path: str
    fmt: str
    dynamodb_json: bool = False
    columns: list[str] | None = None
    segments: int = 4
    progress: bool | None = None
    #: Scan options from ``--where`` (``filter``, ``names``, ``values``).
    scan_filter: dict[str, Any] | None = None
    #: ``--fields``: the attributes to read (a projection).
    fields: list[str] | None = None


@dataclass
class ExportOutcome:
    """Counts of one export; ``columns`` the CSV header written."""

    items: int = 0
    dropped_attributes: int = 0
    seconds: float = 0.0
    columns: list[str] = field(default_factory=list)


def _estimate(batch: BatchClient, physical: str) -> int | None:
    # DescribeTable's ItemCount is refreshed about every six hours: an ETA hint only.
    with contextlib.suppress(Exception):
        return int(batch.client.describe_table(TableName=physical)["Table"]["ItemCount"]) or None
    return None


def _scan(job: ExportJob, batch: BatchClient) -> Iterator[dict[str, Any]]:
    options: dict[str, Any] = dict(job.scan_filter or {})
    if job.fields:
        options["projection"] = job.fields
    physical = job.table.physical
    if job.segments > 1:
        return batch.parallel_scan(physical, job.segments, **options)
    return batch.scan(physical, **options)


def run_export(job: ExportJob, batch: BatchClient) -> ExportOutcome:
    """Write every item of the table to ``job.path`` (``-``: standard output).

    Raises
    ------
    ExportError
        An item the format cannot carry exactly (nothing is left under ``job.path``).
    dynabatch.BatchLayerError
        The Scan kept being throttled past the retry budget (nothing left either).
    """
    outcome = ExportOutcome()
    started = time.perf_counter()
    to_stdout = job.path == "-"
    partial = job.path if to_stdout else f"{job.path}.part"
    bar = progress_bar(
        job.progress, f"export {job.table.given}", _estimate(batch, job.table.physical)
    )
    done = False
    stream: IO[str] | None = None
    try:
        items: Iterator[dict[str, Any]] = _scan(job, batch)
        columns = job.columns
        spool = None
        if job.fmt == "csv" and not columns:
            spool = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed below
            columns = _spool(items, spool, job, bar)
            items = _unspool(spool)
        stream = sys.stdout if to_stdout else open(partial, "w", encoding="utf-8", newline="")  # noqa: SIM115
        writer = ItemWriter(stream, job.fmt, dynamodb_json=job.dynamodb_json, columns=columns)
        for item in items:
            try:
                writer.write(item)
            except ValueProblem as problem:
                key = {k: item.get(k) for k in job.table.key_names}
                raise ExportError(f"{job.table.given} item {key}: {problem}") from None
            if spool is None:
                bar.update(1)
        writer.close()
        if spool is not None:
            spool.close()
        outcome.items, outcome.dropped_attributes = writer.count, writer.dropped
        outcome.columns = list(columns or [])
        done = True
    finally:
        bar.close()
        if not to_stdout and stream is not None:
            stream.close()
            if done:
                os.replace(partial, job.path)
            else:
                with contextlib.suppress(OSError):
                    os.remove(partial)
        outcome.seconds = time.perf_counter() - started
    return outcome


def _spool(items: Iterator[dict[str, Any]], spool: IO[str], job: ExportJob, bar: Any) -> list[str]:
    kinds: dict[str, str] = {}
    for item in items:
        for name, value in item.items():
            kind = _kind(value, name, job)
            if kinds.setdefault(name, kind) != kind:
                key = {k: item.get(k) for k in job.table.key_names}
                raise ExportError(
                    f"{job.table.given} item {key}: attribute {name!r} is {kind} here and "
                    f"{kinds[name]} elsewhere; a CSV column holds one type: pass --columns, "
                    "or export JSON Lines with --dynamodb-json"
                )
        spool.write(json.dumps(_wire_json(item)) + "\n")
        bar.update(1)
    spool.seek(0)
    return csv_columns(kinds, job.table.key_names)


def csv_columns(kinds: dict[str, str], key_names: tuple[str, ...]) -> list[str]:
    """The header: key attributes first, then the others by name; ``name:TYPE`` unless S."""
    order = [k for k in key_names if k in kinds] + sorted(n for n in kinds if n not in key_names)
    return [name if kinds[name] == "S" else f"{name}:{kinds[name]}" for name in order]


def _kind(value: Any, name: str, job: ExportJob) -> str:
    if isinstance(value, str):
        if not value:
            raise ExportError(
                f"attribute {name!r}: an empty string, which a CSV cell cannot tell from a "
                "missing attribute; export JSON Lines instead"
            )
        return "S"
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, (int, Decimal)):
        return "N"
    if isinstance(value, (set, frozenset)):
        members = list(value)
        if all(isinstance(m, str) for m in members):
            return "SS"
        if all(isinstance(m, (int, Decimal)) for m in members):
            return "NS"
    if isinstance(value, list):
        return "L"
    if isinstance(value, dict):
        return "M"
    hint = TYPE_HINTS.get(job.table.logical, {}).get(name)
    raise ExportError(
        f"attribute {name!r}: a {hint or type(value).__name__} value CSV cannot carry; "
        "export JSON Lines with --dynamodb-json"
    )


def _wire_json(item: dict[str, Any]) -> dict[str, Any]:
    # Spooled as DynamoDB JSON so nothing changes on the way (sets stay sets).
    return wire_to_json(serialize_item(item))


def _unspool(spool: IO[str]) -> Iterator[dict[str, Any]]:
    for line in spool:
        yield deserialize_item(wire_from_json(json.loads(line)))
