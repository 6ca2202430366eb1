"""``fleet import`` / ``fleet export`` with ``s3://`` targets: AWS's own engines.

- ``fleet export TABLE s3://bucket/prefix [--since TIME]``: DynamoDB's export to S3
  (ExportTableToPointInTime; reads no table capacity; needs PITR, which the stack enables).
- ``fleet import TABLE s3://bucket/prefix --new-table NAME``: DynamoDB's ImportTable into a
  new table defined by ``fleet.tables`` (DynamoDB JSON or CSV).
- ``fleet import TABLE s3://...|FILE --distributed``: the stack's Step Functions Distributed
  Map, or, against a local endpoint, the in-process stand-in (:mod:`.cloudmap`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from fleet.bulkwriter import MAP, prepare_item
from fleet.records import record_from_item
from fleet.tables import ALL_TABLES

from fleetcli.common import OK, PARTIAL, USAGE, fail, positive, say
from fleetcli.env import apply_connection, is_local, set_table_variables, table_name

from . import cloudmap, cloudsfn, native
from .cloudmap import InputProblem, MapJob, RunReport, S3Location
from .formats import InputError, guess_format, read_items

__all__ = ["add_import_flags", "add_export_flags", "import_", "export", "local_workers"]

#: Where the local stand-in puts uploads and results when no location is given.
LOCAL_BUCKET = "fleet-imports"
STACK_NAME = "DeviceFleet-dev"
EXPORT_DONE = ("COMPLETED", "FAILED")
IMPORT_DONE = ("COMPLETED", "FAILED", "CANCELLED")


def add_import_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of ``fleet import`` for ``s3://`` sources and ``--distributed``."""
    group = parser.add_argument_group("past one machine (docs/scaling.md)")
    group.add_argument("--new-table", metavar="NAME", help="S3 source: ImportTable into NAME")
    group.add_argument(
        "--distributed", action="store_true", help="Step Functions Distributed Map (or local)"
    )
    group.add_argument("--upload-to", metavar="S3URL", help="--distributed FILE: upload here")
    group.add_argument(
        "--map-concurrency", type=positive, default=MAP.concurrency, help="batches at once"
    )
    group.add_argument(
        "--write-units",
        type=float,
        default=float(MAP.write_units_per_second),
        help="table write units/s the whole map may use, shared by the workers (0: unpaced)",
    )
    group.add_argument("--stack", default=STACK_NAME, help="the deployed stack's name")
    group.add_argument("--s3-endpoint-url", help="S3 endpoint (default: botocore's, or local)")
    group.add_argument("--poll-seconds", type=float, default=5.0, help=argparse.SUPPRESS)


def add_export_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of ``fleet export`` for ``s3://`` targets."""
    parser.add_argument(
        "--since",
        metavar="TIME",
        help="s3:// target: incremental export of changes since TIME (ISO-8601)",
    )
    parser.add_argument("--poll-seconds", type=float, default=5.0, help=argparse.SUPPRESS)


# -- distributed import --------------------------------------------------------------


def import_(args: argparse.Namespace) -> int:
    """``fleet import TABLE s3://...`` (with --new-table or --distributed) or FILE --distributed."""
    try:
        if args.file.startswith("s3://"):
            source = S3Location.parse(args.file)
            if args.new_table:
                return native.import_new_table(args, source)
            if not args.distributed:
                return fail("an s3:// source needs --new-table NAME or --distributed")
        elif args.new_table:
            return fail("--new-table imports from s3://bucket/prefix")
        return import_distributed(args)
    except InputProblem as error:
        return fail(str(error))
    except InputError as error:
        return fail(f"{error} (nothing was uploaded or written)")


def import_distributed(args: argparse.Namespace) -> int:
    """``--distributed``: upload a local file first when given one, then run the map."""
    endpoint = apply_connection(args)
    set_table_variables()
    s3 = native.s3_client(args, endpoint)
    local = is_local(endpoint)
    deployment = None
    if not local:
        cloudformation = native.aws_client("cloudformation")
        deployment = cloudsfn.find_deployment(cloudformation, args.stack, args.table)
    bucket = deployment.bucket if deployment else LOCAL_BUCKET
    if args.file.startswith("s3://"):
        source = S3Location.parse(args.file)
    else:
        source = _upload(args, s3, bucket, local)
    results = S3Location(bucket, f"results/{args.table}")
    if deployment and (source.bucket, _under(source, args.table)) != (bucket, True):
        raise InputProblem(
            f"{source}: the state machine reads only s3://{bucket}/imports/{args.table}/ "
            "(least privilege); upload there, or pass a local file and it is uploaded for you"
        )
    fmt = args.format or _format_of(s3, source)
    job = MapJob(
        table=args.table,
        source=source,
        fmt=fmt,
        results=results,
        write_units=args.write_units or None,
        concurrency=args.map_concurrency,
        progress=args.progress,
        table_name=table_name(args.table),
        fresh=str(int(time.time())) if args.restart else "",
    )
    started = time.perf_counter()
    if deployment is None:
        manifest = cloudmap.run_local(s3, job, local_workers(args.table, job.concurrency))
        how = "local stand-in for Step Functions"
    else:
        manifest, how, items = _run_on_aws(job, deployment, s3, args)
    rejects = args.rejects or f"{args.table}-distributed.rejects.jsonl"
    report = cloudmap.collect(s3, manifest, args.table, fmt, rejects)
    if deployment is not None:
        report.items = items
    return _summary(args, report, how, time.perf_counter() - started)


def _under(source: S3Location, table: str) -> bool:
    return source.prefix.startswith(f"imports/{table}/")


def _format_of(s3: Any, source: S3Location) -> str:
    objects = cloudmap.list_objects(s3, source)
    if not objects:
        raise InputProblem(f"{source}: no objects to import")
    kinds = {"csv" if o["Key"].endswith(".csv") else "jsonl" for o in objects}
    if len(kinds) > 1:
        raise InputProblem(f"{source}: holds both CSV and JSON Lines objects; pass --format")
    return kinds.pop()


#: A local file is uploaded in parts of about this size: objects stay well inside what
#: one ItemReader load handles, and memory here stays flat.
PART_BYTES = 128 << 20


def _upload(args: argparse.Namespace, s3: Any, bucket: str, local: bool) -> S3Location:
    """Check every record of the local file as ``fleet import`` would, then upload it as
    DynamoDB JSON lines (lossless: exact numbers, sets) in parts, under a prefix named
    after its content (the same file twice is the same prefix, so the same run).

    Raises
    ------
    InputError
        The first bad record (file and line); nothing has been uploaded then.
    """
    if not os.path.isfile(args.file):
        raise InputProblem(f"{args.file}: no such file")
    fmt = guess_format(args.file, args.format)
    definition = next(t for t in ALL_TABLES if t.logical_name == args.table)
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory(prefix="fleet-upload-") as workdir:
        parts: list[Path] = []
        stream = None
        for record in read_items(args.file, fmt, args.table):
            try:
                item = prepare_item(record.item, definition)
            except ValueError as problem:
                raise InputError(args.file, record.line, str(problem)) from None
            line = json.dumps(record_from_item(item, dynamodb_json=True)).encode() + b"\n"
            digest.update(line)
            if stream is None or stream.tell() >= PART_BYTES:
                if stream is not None:
                    stream.close()
                parts.append(Path(workdir) / f"part-{len(parts):05d}.jsonl")
                stream = open(parts[-1], "wb")  # noqa: SIM115 - closed above or below
            stream.write(line)
        if stream is None:
            raise InputProblem(f"{args.file}: no items")
        stream.close()
        base = (
            S3Location.parse(args.upload_to)
            if args.upload_to
            else S3Location(bucket, f"imports/{args.table}")
        )
        target = base.child(digest.hexdigest()[:16])
        if local and not args.upload_to:
            _ensure_bucket(s3, bucket)
        for part in parts:  # upload_file goes multipart for large parts
            s3.upload_file(str(part), target.bucket, target.child(part.name).prefix)
    args.format = "jsonl"
    return target


def _ensure_bucket(s3: Any, bucket: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except s3.exceptions.ClientError:
        s3.create_bucket(Bucket=bucket)


def local_workers(table: str, count: int) -> cloudmap.Invoke:
    """The bulk writer as ``count`` in-process "execution environments" (one function with
    ``count`` slots, as the local stack runs its functions), one batch at a time each."""
    from fleet.deployment import BULK_WRITER

    from fleetcli.local.invoke import LocalFunction

    os.environ["BULK_IMPORT_TABLE"] = table
    # The EMF metrics blob belongs in CloudWatch, not in the command's output.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    region = boto3.session.Session().region_name or "us-east-1"
    function = LocalFunction(BULK_WRITER, region, concurrency=count)
    function.handler  # noqa: B018 - import it now, once, with its logs sent to stderr
    from fleet.observability import logger, metrics

    logger.setLevel("WARNING")  # one line per batch is CloudWatch's job, not the terminal's

    def invoke(event: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            # As Lambda does: the event crosses a JSON boundary (numbers become floats).
            result: list[dict[str, Any]] = function.invoke(json.loads(json.dumps(event)))
            return result
        finally:
            # Disabled, Powertools neither prints nor clears its (process-wide) metric set:
            # clear it, or it grows with every batch.
            metrics.clear_metrics()

    return invoke


def _run_on_aws(
    job: MapJob, deployment: cloudsfn.Deployment, s3: Any, args: argparse.Namespace
) -> tuple[str, str, int]:
    sfn = native.aws_client("stepfunctions")
    objects = cloudmap.list_objects(s3, job.source)
    if not objects:
        raise InputProblem(f"{job.source}: no objects to import")
    name = cloudmap.run_name(job, objects)
    execution_input = {"prefix": job.source.prefix, **job.batch_input()}
    execution = cloudsfn.start_or_resume(sfn, deployment.state_machine_arn, name, execution_input)
    sys.stderr.write(f"fleet: execution {execution.arn} ({execution.how})\n")
    described = cloudsfn.follow(
        sfn, execution.arn, progress=args.progress, poll_seconds=args.poll_seconds
    )
    manifest = cloudsfn.manifest_url(described)
    if manifest is None:
        raise InputProblem(
            f"execution {execution.arn} {described['status']}: {described.get('error')} "
            f"{described.get('cause')}; run the same command again to redrive it"
        )
    items = int(described.get("itemCounts", {}).get("total") or 0)
    return manifest, f"Step Functions, {execution.how}", items


def _summary(args: argparse.Namespace, report: RunReport, how: str, seconds: float) -> int:
    written = max(report.items - report.given_up - report.invalid_records, 0)
    say(
        f"import {args.table} from {args.file} ({how}): {report.items} items: "
        f"{written} written, {report.given_up} given up, "
        f"{report.failed_batches} failed batches, {report.invalid_records} invalid records; "
        f"{seconds:.1f} s; results {report.manifest}"
    )
    for problem in report.problems[:5]:
        sys.stderr.write(f"fleet: {problem}\n")
    if report.invalid_records:
        sys.stderr.write(
            f"fleet: {report.invalid_records} records in batches with invalid records were "
            f"not written; they are in the FAILED files next to {report.manifest}\n"
        )
    if report.local_rejects:
        say(
            f"{report.given_up} items given up are in {report.local_rejects} "
            f"(and {', '.join(report.rejects_files) or 'the FAILED files'}); "
            f"re-import them with: fleet import {args.table} {report.local_rejects}"
        )
    elif os.path.exists(args.rejects or f"{args.table}-distributed.rejects.jsonl"):
        os.remove(args.rejects or f"{args.table}-distributed.rejects.jsonl")
    if report.invalid_records:
        return USAGE
    return PARTIAL if report.given_up else OK


def export(args: argparse.Namespace) -> int:
    """``fleet export TABLE s3://bucket/prefix``: see :func:`fleetcli.bulk.native.export`."""
    return native.export(args)
