"""``fleet import``: a file of items into a table, resumable, losing nothing.

Every record is read and checked as DynamoDB would check it (keys, types, numbers, size)
before anything is sent. Records are grouped in slices of ``chunk_size``, written a few
slices at a time (:mod:`.pipeline`), and settled in file order: the checkpoint is the
first record not yet settled (the watermark), saved atomically after each slice settles.

A crash or Ctrl-C therefore loses nothing: the next run starts at the watermark. It
re-puts the slices after the watermark that were already written (at most ``lanes``
slices being written, plus those finished early behind a slow one): a put of the same
item is idempotent by key, so every item ends up stored once, as the file last says.
Rejects are written in file order as their slices settle, and the rejects file is cut back
to the length the checkpoint recorded, so it never holds an item twice either.

A bad record (unreadable, missing its key, a number DynamoDB cannot hold) stops the
import after everything before it is settled; the checkpoint points at it, so fixing it
and running the same command again resumes there. An item over 400 KB can never be
written: it goes to the rejects file, counted apart.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from dynabatch import BatchClient
from fleet.checks import ItemProblem, check_item
from fleet.records import record_from_item

from .formats import InputError, Record, read_items
from .pipeline import Pipeline, Slice
from .progress import progress_bar
from .tables import TableInfo

__all__ = ["ImportJob", "ImportOutcome", "CheckpointMismatch", "run_import", "key_digest"]

CHECKPOINT_VERSION = 2


class CheckpointMismatch(Exception):
    """The checkpoint file belongs to another import (other file, table or format)."""


@dataclass
class ImportJob:
    """What to import and where its checkpoint and rejects go."""

    table: TableInfo
    path: str
    fmt: str
    checkpoint: str
    rejects: str
    chunk_size: int = 500
    lanes: int = 4
    restart: bool = False
    progress: bool | None = None
    dry_run: bool = False


@dataclass
class ImportOutcome:
    """Counts of one run (``resumed_line`` when it went on from a checkpoint).

    ``duplicates`` is exact for the whole file, a resumed run included; ``too_large``
    counts the given-up items that no retry can write (over 400 KB).
    """

    read: int = 0
    written: int = 0
    duplicates: int = 0
    retried: int = 0
    given_up: int = 0
    too_large: int = 0
    seconds: float = 0.0
    resumed_line: int | None = None
    errors: list[str] = field(default_factory=list)
    #: Dry run: problems found (``file:line: problem``), the first few.
    problems: list[str] = field(default_factory=list)
    invalid: int = 0


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
    too_large: int = 0
    duplicates: int = 0
    rejects_bytes: int = 0
    version: int = CHECKPOINT_VERSION


def _load_checkpoint(job: ImportJob) -> _Checkpoint:
    fresh = _Checkpoint(str(Path(job.path).resolve()), job.table.physical, job.fmt)
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
    # A JSON array's position is an item count (see formats._read_json), not an offset.
    if job.fmt != "json" and saved.offset > os.path.getsize(job.path):
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


def key_digest(item: dict[str, Any], key_names: tuple[str, ...]) -> bytes:
    """A short fingerprint of the item's key: exact duplicate counts in bounded memory.

    Eight bytes a key (a collision is a 1-in-2**64 chance per pair): 10 million keys
    fit in about 1 GB less than the keys themselves would take.
    """
    parts = []
    for name in key_names:
        value = item.get(name)
        if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            parts.append(f"N{Decimal(value).normalize()}")
        elif isinstance(value, (bytes, bytearray)):
            parts.append(f"B{bytes(value).hex()}")
        else:
            parts.append(f"S{value}")
    return hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).digest()


def _check(record: Record, job: ImportJob) -> int:
    """The record's item ready to write; its size. Raises ItemProblem."""
    table = job.table
    table.prepare(record.item)
    return check_item(record.item, table.key_names, table.key_types, table.physical)


def _keys_before(job: ImportJob, state: _Checkpoint) -> set[bytes]:
    # A resumed run re-reads the keys before its checkpoint (no writes), so the duplicate
    # count stays exact for the whole file.
    seen: set[bytes] = set()
    if not state.offset:
        return seen
    try:
        for record in read_items(job.path, job.fmt, job.table.logical):
            if record.end > state.offset:
                break
            seen.add(key_digest(record.item, job.table.key_names))
    except InputError:
        pass  # the records before the checkpoint were read once already; count what is
    return seen


def run_import(job: ImportJob, batch: BatchClient) -> ImportOutcome:
    """Import ``job.path`` into the table; see the module docstring for the guarantees.

    Raises
    ------
    InputError
        At the first bad record (everything before it is written and checkpointed).
    CheckpointMismatch
        The checkpoint belongs to another import.
    """
    if job.dry_run:
        return _dry_run(job)
    state = _load_checkpoint(job)
    outcome = ImportOutcome(resumed_line=state.line if state.offset else None)
    started = time.perf_counter()
    seen = _keys_before(job, state)
    rejects = _open_rejects(job.rejects, state.rejects_bytes)
    _save_checkpoint(job.checkpoint, state)  # from the start: what a crash leaves is clear
    bar = progress_bar(job.progress, f"import {job.table.given}", None)
    bar.update(state.read)

    def settle(work: Slice) -> None:
        result = work.result
        for item in work.too_large:
            _reject(rejects, item)
        if result is not None:
            for requests in result.unprocessed.values():
                for request in requests:
                    _reject(rejects, request.get("PutRequest", {}).get("Item"))
            outcome.written += result.written
            outcome.retried += result.retries
            outcome.given_up += result.unprocessed_count
            outcome.errors.extend(f"{e.code}: {e.message}" for e in result.errors)
        rejects.flush()
        outcome.read += work.read
        outcome.given_up += len(work.too_large)
        outcome.too_large += len(work.too_large)
        state.offset, state.line = work.end
        state.read += work.read
        state.written += result.written if result else 0
        state.given_up += len(work.too_large) + (result.unprocessed_count if result else 0)
        state.too_large += len(work.too_large)
        state.duplicates = outcome_duplicates[0]
        state.rejects_bytes = rejects.tell()
        _save_checkpoint(job.checkpoint, state)
        bar.update(work.read)

    outcome_duplicates = [state.duplicates]
    pipeline = Pipeline(batch, job.table.physical, job.lanes, settle)
    work = Slice(0)
    try:
        try:
            for record in read_items(
                job.path, job.fmt, job.table.logical, state.offset, state.line
            ):
                work = _take(record, job, work, seen, outcome_duplicates, pipeline)
        except InputError:
            # What came before a bad record is still written and settled: the checkpoint
            # then points at the bad record itself.
            pipeline.submit(work)
            pipeline.drain()
            raise
        pipeline.submit(work)
        pipeline.drain()
    finally:
        bar.close()
        rejects.close()
        if state.rejects_bytes == 0 and os.path.exists(job.rejects):
            os.remove(job.rejects)  # an empty rejects file would only mislead
        outcome.duplicates = outcome_duplicates[0]
        outcome.seconds = time.perf_counter() - started
    _finish(job)
    return outcome


def _take(
    record: Record,
    job: ImportJob,
    work: Slice,
    seen: set[bytes],
    duplicates: list[int],
    pipeline: Pipeline,
) -> Slice:
    """Add one record to the slice being filled; returns the slice to fill next."""
    try:
        _check(record, job)
    except ItemProblem as problem:
        if not problem.too_large:
            raise InputError(job.path, record.line, str(problem), problem.attribute) from None
        work.too_large.append(record.item)
        work.passed(record)
    else:
        key = key_digest(record.item, job.table.key_names)
        if key in seen:
            duplicates[0] += 1
        seen.add(key)
        work.add(record, key)
    if work.read < job.chunk_size:
        return work
    pipeline.submit(work)
    return Slice(work.seq + 1)


def _dry_run(job: ImportJob) -> ImportOutcome:
    """Read and check every record as a real run would; write nothing, keep no state."""
    outcome = ImportOutcome()
    started = time.perf_counter()
    seen: set[bytes] = set()
    bar = progress_bar(job.progress, f"check {job.table.given}", None)
    try:
        for record in read_items(job.path, job.fmt, job.table.logical):
            outcome.read += 1
            bar.update(1)
            try:
                _check(record, job)
            except ItemProblem as problem:
                if problem.too_large:
                    outcome.too_large += 1
                    outcome.given_up += 1
                else:
                    outcome.invalid += 1
                if len(outcome.problems) < 20:
                    outcome.problems.append(f"{job.path}:{record.line}: {problem}")
                continue
            key = key_digest(record.item, job.table.key_names)
            outcome.duplicates += key in seen
            seen.add(key)
    except InputError as error:
        # The reader cannot go past unreadable text: it is the last problem found.
        outcome.invalid += 1
        outcome.problems.append(str(error))
    finally:
        bar.close()
        outcome.seconds = time.perf_counter() - started
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


def _reject(stream: IO[str], item: dict[str, Any] | None) -> None:
    # Lossless DynamoDB JSON, one item a line: `fleet import` reads it back as it is.
    if item is not None:
        stream.write(json.dumps(record_from_item(item, dynamodb_json=True)) + "\n")
