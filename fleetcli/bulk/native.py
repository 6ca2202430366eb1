"""DynamoDB's own engines through S3: export (ExportTableToPointInTime) and ImportTable.

Neither reads nor writes table capacity: the export reads the PITR backup (the stack
enables PITR); ImportTable creates a new table, defined by ``fleet.tables``, and fills it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from fleet.tables import ALL_TABLES

from fleetcli.common import OK, PARTIAL, fail, say
from fleetcli.env import apply_connection, is_local, table_name

from . import cloudmap
from .cloudmap import InputProblem, S3Location

__all__ = ["export", "import_new_table", "aws_client", "s3_client"]

EXPORT_DONE = ("COMPLETED", "FAILED")
IMPORT_DONE = ("COMPLETED", "FAILED", "CANCELLED")


def s3_client(args: argparse.Namespace, endpoint: str | None) -> Any:
    """An S3 client: ``--s3-endpoint-url``, botocore's settings, or the local endpoint."""
    url = getattr(args, "s3_endpoint_url", None) or os.environ.get("AWS_ENDPOINT_URL_S3")
    if url is None and is_local(endpoint):
        url = endpoint  # moto's server answers S3 on the same port as DynamoDB
    return boto3.client("s3", endpoint_url=url, config=Config(s3={"addressing_style": "path"}))


def aws_client(service: str) -> Any:
    """A client of ``service`` from botocore's settings (one place, so tests can stub it)."""
    return boto3.client(service)


# -- export --------------------------------------------------------------------------


def export(args: argparse.Namespace) -> int:
    """``fleet export TABLE s3://bucket/prefix``."""
    try:
        target = S3Location.parse(args.file)
        since = _since(args.since)
    except (InputProblem, ValueError) as error:
        return fail(str(error))
    apply_connection(args)
    dynamodb = aws_client("dynamodb")
    table_arn = dynamodb.describe_table(TableName=table_name(args.table))["Table"]["TableArn"]
    request: dict[str, Any] = {
        "TableArn": table_arn,
        "S3Bucket": target.bucket,
        "S3Prefix": target.prefix,
        "ExportFormat": "DYNAMODB_JSON",
    }
    if since is not None:
        request["ExportType"] = "INCREMENTAL_EXPORT"
        request["IncrementalExportSpecification"] = {
            "ExportFromTime": since,
            "ExportToTime": datetime.now(UTC),
            "ExportViewType": "NEW_IMAGE",
        }
    started = dynamodb.export_table_to_point_in_time(**request)["ExportDescription"]
    done = _wait(
        lambda: dynamodb.describe_export(ExportArn=started["ExportArn"])["ExportDescription"],
        "ExportStatus",
        EXPORT_DONE,
        f"export {args.table}",
        args.poll_seconds,
    )
    export_id = done["ExportArn"].rsplit("/", 1)[-1]
    data = target.child("AWSDynamoDB", export_id, "data")
    if done["ExportStatus"] != "COMPLETED":
        return fail(
            f"export {args.table} {done['ExportStatus']}: {done.get('FailureCode')} "
            f"{done.get('FailureMessage')}",
            PARTIAL,
        )
    manifest = done.get("ExportManifest")
    say(
        f"export {args.table} to {target}: {done.get('ItemCount', 0)} items "
        f"({'incremental since ' + args.since if since else 'full'})"
    )
    if manifest:
        say(f"manifest: s3://{target.bucket}/{manifest}")
    say(f"data: {data}/ (gzipped DynamoDB JSON lines)")
    return OK


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _wait(
    describe: Any, status_key: str, done: tuple[str, ...], label: str, poll: float
) -> dict[str, Any]:
    started = time.monotonic()
    while True:
        described: dict[str, Any] = describe()
        status = described[status_key]
        if status in done:
            return described
        sys.stderr.write(f"\r{label}: {status} {time.monotonic() - started:.0f} s ")
        time.sleep(poll)


# -- import into a new table ---------------------------------------------------------


def import_new_table(args: argparse.Namespace, source: S3Location) -> int:
    """``fleet import TABLE s3://... --new-table NAME``: DynamoDB's ImportTable."""
    endpoint = apply_connection(args)
    s3 = s3_client(args, endpoint)
    objects = cloudmap.list_objects(s3, source)
    if not objects:
        return fail(f"{source}: no objects to import")
    fmt = args.format or ("csv" if objects[0]["Key"].endswith((".csv", ".csv.gz")) else "jsonl")
    if fmt not in ("jsonl", "csv"):
        return fail("--new-table reads DynamoDB JSON lines (jsonl) or CSV")
    definition = next(t for t in ALL_TABLES if t.logical_name == args.table)
    creation = definition.create_table_kwargs(args.new_table)
    request: dict[str, Any] = {
        "S3BucketSource": {"S3Bucket": source.bucket, "S3KeyPrefix": source.prefix},
        "InputFormat": "CSV" if fmt == "csv" else "DYNAMODB_JSON",
        "InputCompressionType": "GZIP" if objects[0]["Key"].endswith(".gz") else "NONE",
        "TableCreationParameters": creation,
    }
    if fmt == "csv":
        header = _csv_header(s3, source.bucket, objects[0]["Key"])
        typed = [h for h in header if ":" in h]
        if typed:
            return fail(
                f"{objects[0]['Key']}: typed CSV columns {typed} are fleet's own convention; "
                "ImportTable reads every non-key CSV value as a string: use DynamoDB JSON"
            )
        request["InputFormatOptions"] = {"Csv": {"Delimiter": ","}}
    dynamodb = aws_client("dynamodb")
    started = dynamodb.import_table(**request)["ImportTableDescription"]
    done = _wait(
        lambda: dynamodb.describe_import(ImportArn=started["ImportArn"])["ImportTableDescription"],
        "ImportStatus",
        IMPORT_DONE,
        f"import {args.new_table}",
        args.poll_seconds,
    )
    imported, errors = done.get("ImportedItemCount", 0), done.get("ErrorCount", 0)
    say(
        f"import {source} into new table {args.new_table} ({args.table}'s definition): "
        f"{done['ImportStatus']}, {imported} imported, {errors} errors"
    )
    if done["ImportStatus"] != "COMPLETED" or errors:
        log = done.get("CloudWatchLogGroupArn", "the /aws-dynamodb/imports log group")
        return fail(
            f"{done.get('FailureCode') or 'errors'}: {done.get('FailureMessage') or ''} "
            f"(item errors are logged in {log})",
            PARTIAL,
        )
    return OK


def _csv_header(s3: Any, bucket: str, key: str) -> list[str]:
    head = s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-65535")["Body"].read()
    if key.endswith(".gz"):
        return []
    first = head.decode("utf-8-sig", errors="replace").splitlines()[0:1]
    return [h.strip().strip('"') for h in first[0].split(",")] if first else []
