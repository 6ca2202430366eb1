"""What each ``fleet`` subcommand does: flags in, work done, a summary and an exit code."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from types import FrameType

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from dynabatch import ItemTooLargeError

from .bulk.apply import run_apply
from .bulk.exporter import ExportError, ExportJob, run_export
from .bulk.formats import InputError, guess_format
from .bulk.importer import CheckpointMismatch, ImportJob, run_import
from .bulk.progress import rate
from .env import CountingMetrics, apply_connection, batch_client, set_table_variables
from .local.invoke import local_function, scheduled_event
from .local.stack import LocalStack, StackError, StackOptions

__all__ = ["run", "import_", "export", "apply", "sweep", "warm"]

OK, PARTIAL, USAGE = 0, 1, 2


def _fail(message: str, code: int = USAGE) -> int:
    sys.stderr.write(f"fleet: {message}\n")
    return code


def _say(message: str) -> None:
    print(message, flush=True)


# -- run ----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """Start the local stack, print how to use it, wait for Ctrl-C or SIGTERM, stop it all."""
    if args.profile:
        os.environ["AWS_PROFILE"] = args.profile
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    options = StackOptions(
        host=args.host,
        port=args.port,
        dynamodb_endpoint=args.dynamodb_endpoint,
        dynamodb_port=args.dynamodb_port,
        cache_url=args.cache_url,
        demo_data=args.demo_data,
        sweep_every=args.sweep_every,
        warm_every=args.warm_every,
        verbose=args.verbose,
    )
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        del frame
        sys.stderr.write(f"\nfleet: {signal.Signals(signum).name}: stopping\n")
        stopping.set()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    stack = LocalStack(options)
    try:
        try:
            stack.start()
        except OSError as error:
            hint = "is the port in use? try --port / --dynamodb-port"
            return _fail(f"cannot start: {error} ({hint})", PARTIAL)
        except (StackError, BotoCoreError, ClientError) as error:
            return _fail(f"cannot start: {error}", PARTIAL)
        _say(banner(stack))
        while not stopping.wait(0.5):
            pass
    finally:
        stack.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    sys.stderr.write("fleet: stopped; nothing left running\n")
    return OK


def banner(stack: LocalStack) -> str:
    """What ``fleet run`` prints: where everything is and what to paste."""
    assert stack.api is not None
    api, ddb = stack.api.url, stack.endpoint
    region = boto3.session.Session().region_name or "us-east-1"
    embedded = (
        "embedded moto server" if stack.moto is not None else "given with --dynamodb-endpoint"
    )
    creds = "AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local " if stack.moto is not None else ""
    opts = stack.options
    every = ", ".join(
        f"{name} every {seconds:g} s" if seconds else f"{name} off"
        for name, seconds in (("sweeper", opts.sweep_every), ("warmer", opts.warm_every))
    )
    return f"""\
Device Fleet: local stack running (development only: no AWS account involved)

  HTTP API   {api}   (OpenAPI document: {api}/openapi.json)
  DynamoDB   {ddb}   ({embedded}, region {region})
  cache      {opts.cache_url}
  schedules  {every}

Try the API. X-Dev-User is a DEVELOPMENT identity: only this local server honours it,
in place of the JWT the deployed API requires; answers to it carry X-Dev-Identity: development.

  curl -i -H 'X-Dev-User: user-0001' '{api}/users/user-0001/devices?limit=5&fields=name,state'

  curl -i -X POST -H 'X-Dev-User: user-0001' -H 'Content-Type: application/json' \\
       -H 'Idempotency-Key: demo-transfer-1' \\
       -d '{{"fromUserId": "user-0001", "toUserId": "user-0002"}}' \\
       {api}/devices/dev-00001/transfer

Inspect the tables (devices, users, sessions, idempotency):

  {creds}AWS_DEFAULT_REGION={region} \\
      aws dynamodb scan --table-name devices --max-items 5 --endpoint-url {ddb}
  boto3.client("dynamodb", endpoint_url="{ddb}", region_name="{region}")
  fleet export devices devices.jsonl --endpoint-url {ddb}

Ctrl-C stops everything."""


# -- bulk ---------------------------------------------------------------------------------


def import_(args: argparse.Namespace) -> int:
    """``fleet import TABLE FILE``."""
    if not os.path.isfile(args.file):
        return _fail(f"{args.file}: no such file")
    try:
        fmt = guess_format(args.file, args.format)
    except InputError as error:
        return _fail(str(error))
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
            return _fail(
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
    _say(
        f"import {args.table} from {args.file}{resumed}: {outcome.read} read, "
        f"{outcome.written} written, {outcome.retried} retried, {outcome.given_up} given up"
        + (f", {outcome.duplicates} duplicate keys (last kept)" if outcome.duplicates else "")
        + f"; {outcome.seconds:.1f} s, {rate(outcome.read, outcome.seconds)}"
    )
    if outcome.given_up:
        for problem in outcome.errors[:5]:
            sys.stderr.write(f"fleet: {problem}\n")
        _say(
            f"{outcome.given_up} items given up are in {job.rejects}; "
            f"re-import them with: fleet import {args.table} {job.rejects}"
        )
        return PARTIAL
    return OK


def export(args: argparse.Namespace) -> int:
    """``fleet export TABLE FILE``."""
    try:
        fmt = guess_format(args.file, args.format) if args.file != "-" else args.format or "jsonl"
    except InputError as error:
        return _fail(str(error))
    apply_connection(args)
    columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
    job = ExportJob(
        args.table, args.file, fmt, args.dynamodb_json, columns, args.segments, args.progress
    )
    with batch_client(args.concurrency) as batch:
        try:
            outcome = run_export(job, batch)
        except (ExportError, ValueError) as error:
            return _fail(str(error))
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
            return _fail(str(error))
        except ItemTooLargeError as error:
            return _fail(f"{args.file}: {error}")
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


# -- functions ----------------------------------------------------------------------------


def _invoke(name: str, event: dict[str, object]) -> int:
    set_table_variables()
    function = local_function(name, boto3.session.Session().region_name or "us-east-1")
    try:
        # The function's logs and metrics go to stderr: stdout carries only its result,
        # so `fleet sweep | jq .deleted` works.
        with contextlib.redirect_stdout(sys.stderr):
            result = function.invoke(event)
    except Exception as error:  # the function failed: say so in one line, as Lambda would
        return _fail(f"{name} failed: {type(error).__name__}: {error}", PARTIAL)
    print(json.dumps(result, indent=2, default=str))
    return OK


def sweep(args: argparse.Namespace) -> int:
    """``fleet sweep``: the sweeper once, with the event its schedule sends."""
    apply_connection(args)
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    region = boto3.session.Session().region_name or "us-east-1"
    return _invoke("sweeper", scheduled_event("fleet-cli-sweep", region))


def warm(args: argparse.Namespace) -> int:
    """``fleet warm``: the warmer once (the scheduled event, or the ids given)."""
    apply_connection(args)
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    if args.cache_url:
        os.environ["CACHE_URL"] = args.cache_url
    os.environ.setdefault("CACHE_URL", "memory://")
    region = boto3.session.Session().region_name or "us-east-1"
    event: dict[str, object]
    if args.device_id or args.user_id:
        event = {}
        if args.device_id:
            event["deviceIds"] = args.device_id
        if args.user_id:
            event["userIds"] = args.user_id
    else:
        event = scheduled_event("fleet-cli-warm", region)
    return _invoke("warmer", event)
