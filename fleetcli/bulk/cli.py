"""``fleet import``, ``fleet export`` and ``fleet apply``: bulk work through the batch layer."""

from __future__ import annotations

import argparse
import os
import sys

from dynabatch import ItemTooLargeError

from fleetcli.common import OK, PARTIAL, fail, positive, say
from fleetcli.env import CountingMetrics, add_connection_arguments, apply_connection, batch_client

from . import cloud
from .apply import run_apply
from .exporter import ExportError, ExportJob, run_export
from .formats import FORMATS, InputError, guess_format
from .importer import CheckpointMismatch, ImportJob, run_import
from .progress import rate

__all__ = ["add_parsers", "import_", "export", "apply"]

TABLES = ("devices", "users", "sessions")


def _progress_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    parser.add_argument(
        "--concurrency", type=positive, default=16, help="requests in flight (default 16)"
    )


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``fleet import``, ``fleet export``, ``fleet apply``."""
    imp = sub.add_parser(
        "import",
        help="import a JSON Lines / JSON / CSV file into a table (resumable)",
        description="Import items, resumably: a checkpoint remembers what is written, "
        "so running the same command again after Ctrl-C or a crash goes on from there. "
        "Items given up after retries go to a rejects file that this command re-imports.",
    )
    imp.add_argument("table", choices=TABLES)
    imp.add_argument("file", help="input file (.jsonl, .json or .csv)")
    imp.add_argument("--format", choices=FORMATS, help="default: from the file name")
    imp.add_argument("--checkpoint", help="checkpoint file (default FILE.checkpoint)")
    imp.add_argument("--rejects", help="file for items given up (default FILE.rejects.jsonl)")
    imp.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    imp.add_argument("--chunk-size", type=positive, default=2000, help="items per checkpoint")
    _progress_flags(imp)
    cloud.add_import_flags(imp)
    add_connection_arguments(imp)
    imp.set_defaults(func=import_)

    exp = sub.add_parser(
        "export",
        help="export a table to JSON Lines / JSON / CSV (streamed)",
        description="Export every item with a parallel Scan, streamed: memory stays flat.",
    )
    exp.add_argument("table", choices=TABLES)
    exp.add_argument("file", help="output file, or - for standard output")
    exp.add_argument("--format", choices=FORMATS, help="default: from the file name")
    exp.add_argument(
        "--dynamodb-json", action="store_true", help='JSON formats: lossless {"Item": ...} records'
    )
    exp.add_argument("--columns", help="CSV: comma list of name or name:TYPE (N, SS, BOOL, ...)")
    exp.add_argument("--segments", type=positive, default=4, help="parallel scan segments (4)")
    _progress_flags(exp)
    cloud.add_export_flags(exp)
    add_connection_arguments(exp)
    exp.set_defaults(func=export)

    app = sub.add_parser(
        "apply",
        help="apply an AWS CLI --request-items file of any size (writes or batch-get)",
        description="Apply a batch-write-item or batch-get-item --request-items file, with "
        "no 25-write or 100-key limit. Gets print {Responses, UnprocessedKeys} like the "
        "AWS CLI. Anything left unprocessed is saved as a request-items file to apply again.",
    )
    app.add_argument("file", help="request-items JSON (file://path, path or -)")
    app.add_argument("--unprocessed", help="where leftovers go (default FILE.unprocessed.json)")
    _progress_flags(app)
    add_connection_arguments(app)
    app.set_defaults(func=apply)


def import_(args: argparse.Namespace) -> int:
    """``fleet import TABLE FILE``."""
    if args.file.startswith("s3://") or args.distributed or args.new_table:
        return cloud.import_(args)  # past one machine: fleetcli/bulk/cloud.py
    if not os.path.isfile(args.file):
        return fail(f"{args.file}: no such file")
    try:
        fmt = guess_format(args.file, args.format)
    except InputError as error:
        return fail(str(error))
    apply_connection(args)
    job = ImportJob(
        table=args.table,
        path=args.file,
        fmt=fmt,
        checkpoint=args.checkpoint or f"{args.file}.checkpoint",
        rejects=args.rejects or f"{args.file}.rejects.jsonl",
        chunk_size=args.chunk_size,
        restart=args.restart,
        progress=args.progress,
    )
    metrics = CountingMetrics()
    with batch_client(args.concurrency, metrics) as batch:
        try:
            outcome = run_import(job, batch, metrics)
        except (InputError, CheckpointMismatch) as error:
            return fail(
                f"{error} (items before it are imported; fix it and run again to resume)"
                if isinstance(error, InputError)
                else str(error)
            )
        except KeyboardInterrupt:
            sys.stderr.write(
                f"fleet: interrupted; run the same command again to resume ({job.checkpoint})\n"
            )
            raise
    resumed = f" (resumed at line {outcome.resumed_line})" if outcome.resumed_line else ""
    say(
        f"import {args.table} from {args.file}{resumed}: {outcome.read} read, "
        f"{outcome.written} written, {outcome.retried} retried, {outcome.given_up} given up"
        + (f", {outcome.duplicates} duplicate keys (last kept)" if outcome.duplicates else "")
        + f"; {outcome.seconds:.1f} s, {rate(outcome.read, outcome.seconds)}"
    )
    if outcome.given_up:
        for problem in outcome.errors[:5]:
            sys.stderr.write(f"fleet: {problem}\n")
        say(
            f"{outcome.given_up} items given up are in {job.rejects}; "
            f"re-import them with: fleet import {args.table} {job.rejects}"
        )
        return PARTIAL
    return OK


def export(args: argparse.Namespace) -> int:
    """``fleet export TABLE FILE``."""
    if args.file.startswith("s3://"):
        return cloud.export(args)  # DynamoDB's export to S3: fleetcli/bulk/cloud.py
    try:
        fmt = guess_format(args.file, args.format) if args.file != "-" else args.format or "jsonl"
    except InputError as error:
        return fail(str(error))
    apply_connection(args)
    columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
    job = ExportJob(
        args.table, args.file, fmt, args.dynamodb_json, columns, args.segments, args.progress
    )
    with batch_client(args.concurrency) as batch:
        try:
            outcome = run_export(job, batch)
        except (ExportError, ValueError) as error:
            return fail(str(error))
    dropped = (
        f" ({outcome.dropped_attributes} attribute values not in --columns left out)"
        if outcome.dropped_attributes
        else ""
    )
    sys.stderr.write(
        f"export {args.table} to {args.file}: {outcome.items} items{dropped}; "
        f"{outcome.seconds:.1f} s, {rate(outcome.items, outcome.seconds)}\n"
    )
    return OK


def apply(args: argparse.Namespace) -> int:
    """``fleet apply FILE``."""
    apply_connection(args)
    base = args.file[len("file://") :] if args.file.startswith("file://") else args.file
    leftovers = args.unprocessed or (
        "unprocessed.json" if base == "-" else f"{base}.unprocessed.json"
    )
    metrics = CountingMetrics()
    with batch_client(args.concurrency, metrics) as batch:
        try:
            outcome = run_apply(args.file, batch, leftovers)
        except InputError as error:
            return fail(str(error))
        except ItemTooLargeError as error:
            return fail(f"{args.file}: {error}")
    sys.stderr.write(
        f"apply {args.file}: {outcome.written} written, {metrics.total('UnprocessedRetried')} "
        f"retried, {outcome.read} read, {outcome.missing} not found, "
        f"{outcome.unprocessed} unprocessed\n"
    )
    if outcome.leftovers_path:
        sys.stderr.write(
            f"fleet: unprocessed requests saved to {outcome.leftovers_path}; "
            f"apply them with: fleet apply {outcome.leftovers_path}\n"
        )
        return PARTIAL
    return OK
