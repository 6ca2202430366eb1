"""``fleet update TABLE KEYS_FILE --set attr=value``: a bulk partial update, no reads.

BatchWriteItem cannot update, so each key gets one UpdateItem, run in parallel by the
batch layer's ``update_items`` (its concurrency, retry budget and capacity budget). The
keys file is any import format (extra attributes are ignored: an export works as a keys
file); it is streamed in slices, so memory stays flat for any number of keys.

An update whose ``--if`` condition is false, whose key has no item (unless ``--upsert``),
or that stays throttled past the retry budget is not applied: its key goes to the rejects
file (``{"Item": key}`` lines, DynamoDB JSON: a keys file for the same command) and the
reasons are counted in the summary. Updates that set fixed values are idempotent, so
running the same command again is safe.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dynabatch import BatchClient, Update
from fleet.checks import ItemProblem, check_item
from fleet.records import record_from_item

from fleetcli.common import OK, PARTIAL, USAGE, error_fields, wants_json
from fleetcli.env import apply_connection, batch_client

from .filters import FilterError, parse_assignment, parse_condition
from .formats import FORMATS, InputError, guess_format, read_items
from .importer import key_digest
from .progress import progress_bar, rate
from .report import finish
from .tables import NoSuchTable, TableInfo, resolve

__all__ = ["add_parser", "update", "UpdateJob", "UpdateOutcome", "run_update"]

_SLICE = 1000


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """``fleet update TABLE KEYS_FILE --set attr=value ...``."""
    upd = sub.add_parser(
        "update",
        help="set or remove attributes on every key of a file (UpdateItem in parallel)",
        description="Update the items whose keys KEYS_FILE lists (JSON Lines, JSON or CSV; "
        "other attributes ignored), without reading them. Keys with no item are left alone "
        "unless --upsert. Updates not applied (a false --if, no item, throttled past the "
        "retries) go to a rejects file that this command takes again as KEYS_FILE.",
    )
    upd.add_argument("table", metavar="TABLE", help="devices, users, sessions or any table")
    upd.add_argument("file", metavar="KEYS_FILE", help="keys (.jsonl, .json or .csv)")
    upd.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="ATTR=VALUE",
        help="set ATTR (repeatable); VALUE as in --where: 12 a number, true a boolean, "
        "'12' or text a string",
    )
    upd.add_argument(
        "--remove", action="append", default=[], metavar="ATTR", help="remove ATTR (repeatable)"
    )
    upd.add_argument(
        "--if",
        dest="condition",
        metavar="CONDITION",
        help="only where CONDITION holds, e.g. 'state = online' (the --where syntax of export)",
    )
    upd.add_argument("--upsert", action="store_true", help="create items for keys with none")
    upd.add_argument("--format", choices=FORMATS, help="default: from the file name")
    upd.add_argument("--rejects", help="keys not updated (default KEYS_FILE.rejects.jsonl)")
    upd.add_argument(
        "--dry-run", action="store_true", help="read and check every key; send nothing"
    )
    common(upd)
    upd.set_defaults(func=update)


@dataclass
class UpdateJob:
    """What to update and how."""

    table: TableInfo
    path: str
    fmt: str
    rejects: str
    set: dict[str, Any]
    remove: list[str]
    condition: dict[str, Any] | None = None
    upsert: bool = False
    dry_run: bool = False
    progress: bool | None = None


@dataclass
class UpdateOutcome:
    """Counts of one run; ``failures`` counts the keys not updated by reason code."""

    read: int = 0
    updated: int = 0
    duplicates: int = 0
    retried: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """Keys not updated."""
        return sum(self.failures.values())


def _keys(job: UpdateJob, outcome: UpdateOutcome) -> Iterator[list[dict[str, Any]]]:
    """Slices of distinct keys, each checked (the whole file is read before any error)."""
    seen: set[bytes] = set()
    names = job.table.key_names
    chunk: list[dict[str, Any]] = []
    try:
        for record in read_items(job.path, job.fmt, job.table.logical):
            outcome.read += 1
            key = {name: record.item[name] for name in names if name in record.item}
            try:
                check_item(key, names, job.table.key_types, job.table.physical)
            except ItemProblem as problem:
                raise InputError(job.path, record.line, str(problem), problem.attribute) from None
            digest = key_digest(key, names)
            if digest in seen:
                outcome.duplicates += 1  # one update a key: the same change twice is once
                continue
            seen.add(digest)
            chunk.append(key)
            if len(chunk) >= _SLICE:
                yield chunk
                chunk = []
    except InputError:
        if chunk:
            yield chunk  # the keys before the bad one are still updated
        raise
    if chunk:
        yield chunk


def run_update(job: UpdateJob, batch: BatchClient) -> UpdateOutcome:
    """Update every key of ``job.path``; see the module docstring.

    Raises
    ------
    InputError
        A key that is missing or of the wrong type (keys before it are updated).
    """
    outcome = UpdateOutcome()
    started = time.perf_counter()
    condition = job.condition or {}
    bar = progress_bar(job.progress, f"update {job.table.given}", None)
    rejects = None
    try:
        for keys in _keys(job, outcome):
            if job.dry_run:
                bar.update(len(keys))
                continue
            updates = [
                Update(
                    job.table.physical,
                    key,
                    set=job.set or None,
                    remove=tuple(job.remove),
                    condition=condition.get("filter"),
                    names=condition.get("names"),
                    values=condition.get("values"),
                )
                for key in keys
            ]
            result = batch.update_items(updates, create_missing=job.upsert, raise_on_failure=False)
            outcome.updated += result.updated
            outcome.retried += result.throttles
            for failure in result.failed:
                if rejects is None:
                    rejects = open(job.rejects, "w", encoding="utf-8")  # noqa: SIM115
                outcome.failures[failure.code] += 1
                if len(outcome.examples) < 5:
                    outcome.examples.append(f"{failure.key}: {failure.code}: {failure.message}")
                record = record_from_item(failure.key, dynamodb_json=True)
                rejects.write(json.dumps(record) + "\n")
            bar.update(len(keys))
    finally:
        bar.close()
        if rejects is not None:
            rejects.close()
        outcome.seconds = time.perf_counter() - started
    return outcome


def update(args: argparse.Namespace) -> int:
    """``fleet update TABLE KEYS_FILE``."""
    if not os.path.isfile(args.file):
        return finish(args, USAGE, {}, [], error_fields(f"{args.file}: no such file"))
    try:
        fmt = guess_format(args.file, args.format)
        assignments = dict(parse_assignment(text) for text in args.assignments)
        condition = parse_condition(args.condition) if args.condition else None
    except InputError as error:
        return finish(args, USAGE, {}, [], error_fields(str(error), file=error.path))
    except FilterError as error:
        return finish(args, USAGE, {}, [], error_fields(str(error)))
    if not assignments and not args.remove:
        return finish(
            args, USAGE, {}, [], error_fields("nothing to change: give --set or --remove")
        )
    apply_connection(args)
    with batch_client(args.concurrency, None, args.max_attempts) as batch:
        try:
            table = resolve(batch, args.table)
        except NoSuchTable as error:
            return finish(args, USAGE, {}, [], error_fields(str(error)))
        clash = sorted((set(assignments) | set(args.remove)) & set(table.key_names))
        if clash:
            message = f"{clash[0]!r} is a key attribute: an update cannot change it"
            return finish(args, USAGE, {}, [], error_fields(message))
        job = UpdateJob(
            table,
            args.file,
            fmt,
            args.rejects or f"{args.file}.rejects.jsonl",
            assignments,
            list(args.remove),
            condition,
            args.upsert,
            args.dry_run,
            args.progress,
        )
        try:
            outcome = run_update(job, batch)
        except InputError as error:
            problem = error_fields(
                f"{error} (keys before it are updated; fix it and run again: it is idempotent)",
                file=error.path,
                line=error.line,
                attribute=error.attribute,
            )
            return finish(args, USAGE, {}, [], problem)
    return _summary(args, job, outcome)


def _summary(args: argparse.Namespace, job: UpdateJob, outcome: UpdateOutcome) -> int:
    fields = {
        "table": args.table,
        "table_name": job.table.physical,
        "file": args.file,
        "dry_run": job.dry_run,
        "read": outcome.read,
        "updated": outcome.updated,
        "duplicates": outcome.duplicates,
        "retried": outcome.retried,
        "condition_failed": outcome.failures.get("ConditionalCheckFailedException", 0),
        "not_found": outcome.failures.get("ItemNotFound", 0),
        "given_up": outcome.failed,
        "failures": dict(outcome.failures),
        "rejects": job.rejects if outcome.failed else None,
        "seconds": round(outcome.seconds, 3),
    }
    code = PARTIAL if outcome.failed else OK
    reasons = ", ".join(f"{n} {code_}" for code_, n in outcome.failures.most_common())
    if job.dry_run:
        line = (
            f"dry run: update {args.table} from {args.file}: {outcome.read} keys read, "
            f"{outcome.read - outcome.duplicates} would be updated; nothing sent"
        )
    else:
        line = (
            f"update {args.table} from {args.file}: {outcome.read} keys read, "
            f"{outcome.updated} updated, {outcome.retried} retried, {outcome.failed} not updated"
            + (f" ({reasons})" if reasons else "")
            + f"; {outcome.seconds:.1f} s, {rate(outcome.read, outcome.seconds)}"
        )
    lines = [line]
    if outcome.failed:
        lines.append(
            f"{outcome.failed} keys not updated are in {job.rejects}; run again on them with: "
            f"fleet update {args.table} {job.rejects} ..."
        )
        if not wants_json(args):
            for example in outcome.examples:
                sys.stderr.write(f"fleet: {example}\n")
    return finish(args, code, fields, lines)
