"""How the bulk commands end: a text summary, or the one JSON document (docs/cli.md)."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fleetcli.common import OK, PARTIAL, USAGE, emit_json, error_fields, fail, say, wants_json

from .apply import ApplyOutcome
from .formats import InputError
from .importer import ImportJob, ImportOutcome
from .progress import rate

__all__ = ["finish", "aws_errors", "input_error", "import_summary", "apply_summary"]


def finish(
    args: argparse.Namespace,
    code: int,
    fields: dict[str, Any],
    lines: list[str],
    error: dict[str, Any] | None = None,
) -> int:
    """Text lines on stdout, or the JSON document; returns ``code``."""
    if wants_json(args):
        return emit_json(args.command, code, fields, error)
    if error is not None:
        fail(error["message"])
    for line in lines:
        say(line)
    return code


def aws_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """No credentials, access denied...: what AWS said, in one line (and in the JSON)."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (BotoCoreError, ClientError) as error:
            return finish(args, PARTIAL, {}, [], error_fields(str(error)))

    return run


def input_error(error: InputError) -> dict[str, Any]:
    """The JSON document's ``error`` member for bad input, located."""
    return error_fields(
        str(error), file=error.path, line=error.line, attribute=getattr(error, "attribute", None)
    )


def _import_fields(
    args: argparse.Namespace, job: ImportJob, outcome: ImportOutcome
) -> dict[str, Any]:
    return {
        "table": args.table,
        "table_name": job.table.physical,
        "file": args.file,
        "format": job.fmt,
        "dry_run": job.dry_run,
        "resumed_at_line": outcome.resumed_line,
        "read": outcome.read,
        "written": outcome.written,
        "duplicates": outcome.duplicates,
        "retried": outcome.retried,
        "given_up": outcome.given_up,
        "too_large": outcome.too_large,
        "invalid": outcome.invalid,
        "problems": outcome.problems,
        "rejects": job.rejects if outcome.given_up and not job.dry_run else None,
        "seconds": round(outcome.seconds, 3),
    }


def import_summary(args: argparse.Namespace, job: ImportJob, outcome: ImportOutcome) -> int:
    fields = _import_fields(args, job, outcome)
    if job.dry_run:
        return _dry_run_summary(args, fields, outcome)
    resumed = f" (resumed at line {outcome.resumed_line})" if outcome.resumed_line else ""
    lines = [
        f"import {args.table} from {args.file}{resumed}: {outcome.read} read, "
        f"{outcome.written} written, {outcome.retried} retried, {outcome.given_up} given up"
        + (f", {outcome.duplicates} duplicate keys (last kept)" if outcome.duplicates else "")
        + f"; {outcome.seconds:.1f} s, {rate(outcome.read, outcome.seconds)}"
    ]
    if not outcome.given_up:
        return finish(args, OK, fields, lines)
    if not wants_json(args):
        for problem in outcome.errors[:5]:
            sys.stderr.write(f"fleet: {problem}\n")
    retryable = outcome.given_up - outcome.too_large
    if outcome.too_large:
        lines.append(
            f"{outcome.too_large} items are over DynamoDB's 400 KB limit and can never be "
            f"written as they are: they are in {job.rejects}, to fix or leave out"
        )
    if retryable:
        lines.append(
            f"{retryable} items given up after retries are in {job.rejects}; "
            f"re-import them with: fleet import {args.table} {job.rejects}"
        )
    return finish(args, PARTIAL, fields, lines)


def _dry_run_summary(
    args: argparse.Namespace, fields: dict[str, Any], outcome: ImportOutcome
) -> int:
    code = USAGE if outcome.invalid else PARTIAL if outcome.too_large else OK
    lines = [
        f"dry run: import {args.table} from {args.file}: {outcome.read} read, "
        f"{outcome.read - outcome.invalid - outcome.too_large} would be written "
        f"({outcome.duplicates} duplicate keys, last kept), {outcome.too_large} over 400 KB, "
        f"{outcome.invalid} invalid; nothing written"
    ]
    if not wants_json(args):
        for problem in outcome.problems:
            sys.stderr.write(f"fleet: {problem}\n")
    return finish(args, code, fields, lines)


def apply_summary(args: argparse.Namespace, outcome: ApplyOutcome) -> int:
    retried = outcome.retried
    code = PARTIAL if outcome.leftovers_path else OK
    if wants_json(args):
        fields: dict[str, Any] = {
            "file": args.file,
            "dry_run": args.dry_run,
            "writes": outcome.writes,
            "keys": outcome.keys,
            "written": outcome.written,
            "retried": retried,
            "read": outcome.read,
            "missing": outcome.missing,
            "unprocessed": outcome.unprocessed,
            "leftovers": outcome.leftovers_path,
        }
        if outcome.answer is not None:
            fields.update(outcome.answer)
        return emit_json("apply", code, fields)
    if outcome.answer is not None:
        json.dump(outcome.answer, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    if args.dry_run:
        sys.stderr.write(
            f"dry run: apply {args.file}: {outcome.writes} writes and {outcome.keys} keys "
            "checked; nothing sent\n"
        )
        return OK
    sys.stderr.write(
        f"apply {args.file}: {outcome.written} written, {retried} "
        f"retried, {outcome.read} read, {outcome.missing} not found, "
        f"{outcome.unprocessed} unprocessed\n"
    )
    if outcome.leftovers_path:
        sys.stderr.write(
            f"fleet: unprocessed requests saved to {outcome.leftovers_path}; "
            f"apply them with: fleet apply {outcome.leftovers_path}\n"
        )
    return code
