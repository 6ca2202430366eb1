"""``fleet import``, ``fleet export`` and ``fleet apply``: bulk work through the batch layer.

Each command ends in :func:`_finish`: a text summary, or with ``--output json`` one JSON
object on stdout (docs/cli.md), and the exit code.
"""

from __future__ import annotations

import argparse
import os
import sys

from dynabatch import BatchLayerError, ItemTooLargeError

from fleetcli.common import (
    INTERRUPTED,
    OK,
    PARTIAL,
    USAGE,
    add_output_flag,
    emit_json,
    error_fields,
    positive,
    wants_json,
)
from fleetcli.env import (
    DEFAULT_MAX_ATTEMPTS,
    add_connection_arguments,
    apply_connection,
    batch_client,
)

from . import cloud, generate, update
from .apply import run_apply
from .exporter import ExportError, ExportJob, run_export
from .filters import FilterError, parse_filter
from .formats import FORMATS, InputError, guess_format
from .importer import CheckpointMismatch, ImportJob, run_import
from .progress import rate
from .report import apply_summary, aws_errors, finish, import_summary, input_error
from .tables import PROJECT_TABLES, NoSuchTable, resolve

__all__ = ["add_parsers", "import_", "export", "apply"]

_TABLE_HELP = f"{', '.join(PROJECT_TABLES)} (the project's, with their rules) or any table name"


def _common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    parser.add_argument(
        "--concurrency", type=positive, default=16, help="requests in flight (default 16)"
    )
    parser.add_argument(
        "--max-attempts",
        type=positive,
        default=DEFAULT_MAX_ATTEMPTS,
        help=f"sends per item before it is given up (default {DEFAULT_MAX_ATTEMPTS})",
    )
    add_output_flag(parser)
    add_connection_arguments(parser)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``fleet import``, ``export``, ``apply``, ``update`` and ``generate``."""
    imp = sub.add_parser(
        "import",
        help="import a JSON Lines / JSON / CSV file into a table (resumable)",
        description="Import items, resumably: a checkpoint remembers what is written, "
        "so running the same command again after Ctrl-C or a crash goes on from there. "
        "Items given up after retries go to a rejects file that this command re-imports.",
    )
    imp.add_argument("table", metavar="TABLE", help=_TABLE_HELP)
    imp.add_argument("file", help="input file (.jsonl, .json or .csv)")
    imp.add_argument("--format", choices=FORMATS, help="default: from the file name")
    imp.add_argument("--checkpoint", help="checkpoint file (default FILE.checkpoint)")
    imp.add_argument("--rejects", help="file for items given up (default FILE.rejects.jsonl)")
    imp.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    imp.add_argument(
        "--dry-run", action="store_true", help="read and check every item; write nothing"
    )
    imp.add_argument(
        "--chunk-size", type=positive, default=500, help="items per write call (default 500)"
    )
    cloud.add_import_flags(imp)
    _common_flags(imp)
    imp.set_defaults(func=import_)

    exp = sub.add_parser(
        "export",
        help="export a table to JSON Lines / JSON / CSV (streamed)",
        description="Export every item (or those --where keeps) with a parallel Scan, "
        "streamed: memory stays flat. CSV holds every attribute unless --columns narrows it.",
    )
    exp.add_argument("table", metavar="TABLE", help=_TABLE_HELP)
    exp.add_argument("file", help="output file, or - for standard output")
    exp.add_argument("--format", choices=FORMATS, help="default: from the file name")
    exp.add_argument(
        "--dynamodb-json", action="store_true", help='JSON formats: lossless {"Item": ...} records'
    )
    exp.add_argument("--columns", help="CSV: comma list of name or name:TYPE (N, SS, BOOL, ...)")
    exp.add_argument("--fields", help="attributes to read, comma list (a projection)")
    exp.add_argument(
        "--where",
        help="keep items matching 'attr OP value' (=, <>, <, <=, >, >=, begins_with, "
        "exists, not_exists; joined by and/or), or a raw FilterExpression with --names/--values",
    )
    exp.add_argument("--names", help='JSON object of #placeholders, e.g. {"#s": "state"}')
    exp.add_argument("--values", help='JSON object of :placeholders, e.g. {":s": "online"}')
    exp.add_argument("--segments", type=positive, default=4, help="parallel scan segments (4)")
    cloud.add_export_flags(exp)
    _common_flags(exp)
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
    app.add_argument(
        "--dry-run", action="store_true", help="read and check every request; send nothing"
    )
    _common_flags(app)
    app.set_defaults(func=apply)

    update.add_parser(sub, _common_flags)
    generate.add_parser(sub)


@aws_errors
def import_(args: argparse.Namespace) -> int:
    """``fleet import TABLE FILE``."""
    if args.file.startswith("s3://") or args.distributed or args.new_table:
        return cloud.import_(args)  # past one machine: fleetcli/bulk/cloud.py
    if not os.path.isfile(args.file):
        return finish(args, USAGE, {}, [], error_fields(f"{args.file}: no such file"))
    try:
        fmt = guess_format(args.file, args.format)
    except InputError as error:
        return finish(args, USAGE, {}, [], input_error(error))
    apply_connection(args)
    with batch_client(args.concurrency, None, args.max_attempts) as batch:
        try:
            table = resolve(batch, args.table)
        except NoSuchTable as error:
            return finish(args, USAGE, {}, [], error_fields(str(error)))
        job = ImportJob(
            table=table,
            path=args.file,
            fmt=fmt,
            checkpoint=args.checkpoint or f"{args.file}.checkpoint",
            rejects=args.rejects or f"{args.file}.rejects.jsonl",
            chunk_size=args.chunk_size,
            restart=args.restart,
            progress=args.progress,
            dry_run=args.dry_run,
        )
        try:
            outcome = run_import(job, batch)
        except CheckpointMismatch as error:
            return finish(args, USAGE, {}, [], error_fields(str(error)))
        except InputError as error:
            fields = {"checkpoint": job.checkpoint, "table": args.table, "file": args.file}
            problem = input_error(error)
            problem["message"] += " (items before it are imported; fix it and run again to resume)"
            return finish(args, USAGE, fields, [], problem)
        except KeyboardInterrupt:
            sys.stderr.write(
                f"fleet: interrupted; run the same command again to resume ({job.checkpoint})\n"
            )
            if wants_json(args):
                emit_json("import", INTERRUPTED, {"checkpoint": job.checkpoint})
            raise
    return import_summary(args, job, outcome)


@aws_errors
def export(args: argparse.Namespace) -> int:
    """``fleet export TABLE FILE``."""
    if args.file.startswith("s3://"):
        return cloud.export(args)  # DynamoDB's export to S3: fleetcli/bulk/cloud.py
    if args.file == "-" and wants_json(args):
        return finish(args, USAGE, {}, [], error_fields("--output json needs a FILE, not -"))
    try:
        fmt = guess_format(args.file, args.format) if args.file != "-" else args.format or "jsonl"
        scan_filter = parse_filter(args.where, args.names, args.values)
    except InputError as error:
        return finish(args, USAGE, {}, [], input_error(error))
    except FilterError as error:
        return finish(args, USAGE, {}, [], error_fields(str(error)))
    apply_connection(args)
    columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
    fields = [f.strip() for f in args.fields.split(",") if f.strip()] if args.fields else None
    with batch_client(args.concurrency, None, args.max_attempts) as batch:
        try:
            table = resolve(batch, args.table)
        except NoSuchTable as error:
            return finish(args, USAGE, {}, [], error_fields(str(error)))
        job = ExportJob(
            table,
            args.file,
            fmt,
            args.dynamodb_json,
            columns,
            args.segments,
            args.progress,
            scan_filter,
            fields,
        )
        try:
            outcome = run_export(job, batch)
        except (ExportError, ValueError) as error:
            return finish(args, USAGE, {}, [], error_fields(str(error)))
        except BatchLayerError as error:
            # Throttled past the retry budget, or the like: nothing under FILE.
            message = f"export {args.table}: {error}; nothing written to {args.file}, run it again"
            return finish(args, PARTIAL, {}, [], error_fields(message))
    dropped = (
        f" ({outcome.dropped_attributes} attribute values not in --columns left out)"
        if outcome.dropped_attributes
        else ""
    )
    summary = {
        "table": args.table,
        "table_name": table.physical,
        "file": args.file,
        "format": fmt,
        "items": outcome.items,
        "dropped_attributes": outcome.dropped_attributes,
        "columns": outcome.columns,
        "seconds": round(outcome.seconds, 3),
    }
    if wants_json(args):
        return emit_json("export", OK, summary)
    sys.stderr.write(
        f"export {args.table} to {args.file}: {outcome.items} items{dropped}; "
        f"{outcome.seconds:.1f} s, {rate(outcome.items, outcome.seconds)}\n"
    )
    return OK


@aws_errors
def apply(args: argparse.Namespace) -> int:
    """``fleet apply FILE``."""
    apply_connection(args)
    base = args.file[len("file://") :] if args.file.startswith("file://") else args.file
    leftovers = args.unprocessed or (
        "unprocessed.json" if base == "-" else f"{base}.unprocessed.json"
    )
    with batch_client(args.concurrency, None, args.max_attempts) as batch:
        try:
            outcome = run_apply(args.file, batch, leftovers, dry_run=args.dry_run)
        except InputError as error:
            return finish(args, USAGE, {"file": args.file}, [], input_error(error))
        except ItemTooLargeError as error:
            return finish(
                args, USAGE, {"file": args.file}, [], error_fields(f"{args.file}: {error}")
            )
    return apply_summary(args, outcome)
