"""``fleet import``: a file of items into a table, resumable, losing nothing.

The input is read in slices of ``chunk_size`` items; each slice is written with the batch
layer (25 a request, in parallel, unprocessed items retried with backoff). Only when a
slice is settled (written, or handed to the rejects file) does the checkpoint move past
it, atomically. A crash or Ctrl-C therefore loses nothing: the next run starts at the
checkpoint and re-puts at most one slice, and a put of the same item is idempotent by key,
so every item ends up stored exactly once. The rejects file is cut back to the length the
checkpoint recorded, so it never holds an item twice either.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from dynabatch import BatchClient, Put
from fleet.sessions import expiry_shard
from fleet.tables import ALL_TABLES

from fleetcli.env import CountingMetrics, table_name

from .formats import InputError, Record, read_items
from .progress import progress_bar
from .values import record_from_item

__all__ = ["ImportJob", "ImportOutcome", "CheckpointMismatch", "run_import"]

CHECKPOINT_VERSION = 1


class CheckpointMismatch(Exception):
    """The checkpoint file belongs to another import (other file, table or format)."""


@dataclass
class ImportJob:
    """What to import and where its checkpoint and rejects go."""

    table: str
    path: str
    fmt: str
    checkpoint: str
    rejects: str
    chunk_size: int = 2000
    restart: bool = False
    progress: bool | None = None


@dataclass
class ImportOutcome:
    """Counts of one run (``resumed_*`` when it went on from a checkpoint)."""

    read: int = 0
    written: int = 0
    duplicates: int = 0
    retried: int = 0
    given_up: int = 0
    seconds: float = 0.0
    resumed_line: int | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class _Checkpoint:
    input: str
    table: str
    format: str
    offset: int = 0
    line: int = 1
    read: int = 0
    written: int = 0
    given_up: int = 0
    rejects_bytes: int = 0
    version: int = CHECKPOINT_VERSION


def _load_checkpoint(job: ImportJob) -> _Checkpoint:
    fresh = _Checkpoint(str(Path(job.path).resolve()), job.table, job.fmt)
    if job.restart or not os.path.exists(job.checkpoint):
        return fresh
    try:
        with open(job.checkpoint, encoding="utf-8") as stream:
            saved = _Checkpoint(**json.load(stream))
    except (OSError, ValueError, TypeError) as error:
        raise CheckpointMismatch(f"{job.checkpoint}: unreadable checkpoint ({error})") from None
    if (saved.input, saved.table, saved.format) != (fresh.input, fresh.table, fresh.format):
        raise CheckpointMismatch(
            f"{job.checkpoint} is for {saved.format} {saved.input} into {saved.table}; "
            "pass --restart to start over or --checkpoint to use another file"
        )
    if saved.offset > os.path.getsize(job.path):
        raise CheckpointMismatch(f"{job.checkpoint}: {job.path} is shorter than the checkpoint")
    return saved


def _save_checkpoint(path: str, checkpoint: _Checkpoint) -> None:
    # Write aside, then rename: a crash leaves the old checkpoint or the new, never half.
    partial = f"{path}.tmp"
    with open(partial, "w", encoding="utf-8") as stream:
        json.dump(asdict(checkpoint), stream)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(partial, path)


def _prepare(item: dict[str, Any], table: str, key_names: tuple[str, ...]) -> dict[str, Any]:
    for name in key_names:
        if name not in item:
            raise ValueError(f"missing key attribute {name!r}")
        if not isinstance(item[name], str) or not item[name]:
            raise ValueError(f"key attribute {name!r} must be a non-empty string")
    if table == "sessions" and "expiresAt" in item and "expiryShard" not in item:
        # The sweeper finds expired sessions through the sharded expiry index only.
        item["expiryShard"] = expiry_shard(item["sessionId"])
    return item


def _key_names(table: str) -> tuple[str, ...]:
    return next(t.key_names() for t in ALL_TABLES if t.logical_name == table)


def _slices(records: Iterator[Record], size: int, job: ImportJob) -> Iterator[list[Record]]:
    names = _key_names(job.table)
    chunk: list[Record] = []
    try:
        for record in records:
            try:
                _prepare(record.item, job.table, names)
            except ValueError as problem:
                raise InputError(job.path, record.line, str(problem)) from None
            chunk.append(record)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    except InputError:
        if chunk:
            yield chunk  # what came before the bad record is still imported
        raise
    if chunk:
        yield chunk


def run_import(job: ImportJob, batch: BatchClient, metrics: CountingMetrics) -> ImportOutcome:
    """Import ``job.path`` into the table; see the module docstring for the guarantees.

    Raises
    ------
    InputError
        At the first bad record (everything before it is written and checkpointed).
    CheckpointMismatch
        The checkpoint belongs to another import.
    """
    state = _load_checkpoint(job)
    outcome = ImportOutcome(resumed_line=state.line if state.offset else None)
    physical = table_name(job.table)
    size = max(os.path.getsize(job.path), 1)
    started = time.perf_counter()
    rejects = _open_rejects(job.rejects, state.rejects_bytes)
    bar = progress_bar(job.progress, f"import {job.table}", None)
    bar.update(state.read)
    try:
        records = read_items(job.path, job.fmt, job.table, state.offset, state.line)
        for chunk in _slices(records, job.chunk_size, job):
            ops = (Put(physical, record.item) for record in chunk)
            result = batch.write_items(ops, raise_on_unprocessed=False)
            for requests in result.unprocessed.values():
                for request in requests:
                    _reject(rejects, request)
            rejects.flush()
            outcome.read += len(chunk)
            outcome.written += result.written
            outcome.duplicates += result.superseded
            outcome.given_up += result.unprocessed_count
            outcome.errors.extend(f"{e.code}: {e.message}" for e in result.errors)
            last = chunk[-1]
            state.offset, state.line = last.end, last.next_line
            state.read += len(chunk)
            state.written += result.written
            state.given_up += result.unprocessed_count
            state.rejects_bytes = rejects.tell()
            _save_checkpoint(job.checkpoint, state)
            bar.total = max(bar.total or 0, int(state.read * size / max(state.offset, 1)))
            bar.update(len(chunk))
    finally:
        bar.close()
        rejects.close()
        if state.rejects_bytes == 0 and os.path.exists(job.rejects):
            os.remove(job.rejects)  # an empty rejects file would only mislead
        outcome.retried = metrics.total("UnprocessedRetried")
        outcome.seconds = time.perf_counter() - started
    _finish(job)
    return outcome


def _finish(job: ImportJob) -> None:
    # Done: the checkpoint has served its purpose.
    if os.path.exists(job.checkpoint):
        os.remove(job.checkpoint)


def _open_rejects(path: str, keep_bytes: int) -> IO[str]:
    stream = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - closed by run_import
    stream.truncate(keep_bytes)
    stream.seek(keep_bytes)
    return stream


def _reject(stream: IO[str], request: dict[str, Any]) -> None:
    # Lossless DynamoDB JSON, one item a line: `fleet import` reads it back as it is.
    item = request.get("PutRequest", {}).get("Item")
    if item is not None:
        stream.write(json.dumps(record_from_item(item, dynamodb_json=True)) + "\n")
