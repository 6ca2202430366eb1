"""``fleet run``, ``fleet sweep`` and ``fleet warm``: the local stack and its functions."""

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

from fleetcli.common import OK, PARTIAL, fail, say, seconds
from fleetcli.env import add_connection_arguments, apply_connection, set_table_variables

from .invoke import local_function, scheduled_event
from .stack import LocalStack, StackError, StackOptions

__all__ = ["add_run_parser", "add_function_parsers", "run", "banner", "sweep", "warm"]

_DEFAULTS = StackOptions()


def add_run_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``fleet run``."""
    parser = sub.add_parser(
        "run",
        help="the whole system on this machine (make run)",
        description="Start moto's DynamoDB server, the tables, demo data, the HTTP API and "
        "the schedules; print the commands to try it. Ctrl-C stops everything.",
    )
    parser.add_argument("--host", default=_DEFAULTS.host, help="HTTP API address (127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=_DEFAULTS.port, help="HTTP API port (3000; 0: any)"
    )
    parser.add_argument(
        "--dynamodb-endpoint",
        help="use this DynamoDB endpoint instead of starting one (DynamoDB Local, or "
        "https://dynamodb.REGION.amazonaws.com with --profile)",
    )
    parser.add_argument(
        "--dynamodb-port",
        type=int,
        default=_DEFAULTS.dynamodb_port,
        help="port of the embedded DynamoDB endpoint (8000; 0: any)",
    )
    parser.add_argument("--profile", help="AWS profile, for a real account")
    parser.add_argument("--region", help="AWS region (local default us-east-1)")
    parser.add_argument(
        "--cache-url", default=_DEFAULTS.cache_url, help="memory:// (embedded) or a redis:// URL"
    )
    parser.add_argument(
        "--demo-data",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="load demo data (default: yes on a local endpoint, no on a real account)",
    )
    parser.add_argument(
        "--sweep-every",
        type=seconds,
        default=_DEFAULTS.sweep_every,
        metavar="SECONDS",
        help=f"sweeper schedule rate (default {_DEFAULTS.sweep_every:g}; 0: off)",
    )
    parser.add_argument(
        "--warm-every",
        type=seconds,
        default=_DEFAULTS.warm_every,
        metavar="SECONDS",
        help=f"warmer schedule rate (default {_DEFAULTS.warm_every:g}; 0: off)",
    )
    parser.add_argument("--verbose", action="store_true", help="function logs at INFO and metrics")
    parser.set_defaults(func=run)


def add_function_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``fleet sweep`` and ``fleet warm``."""
    sweep_parser = sub.add_parser(
        "sweep",
        help="run the expired-session sweeper once and print what it did",
        description="Invoke the sweeper's handler once with a Scheduled Event.",
    )
    add_connection_arguments(sweep_parser)
    sweep_parser.set_defaults(func=sweep)
    warm_parser = sub.add_parser(
        "warm",
        help="run the cache warmer once and print what it did",
        description="Invoke the warmer's handler once: with no ids, the Scheduled Event "
        "(devices of users with a live session); else the given devices / users.",
    )
    warm_parser.add_argument("--device-id", action="append", default=[], help="repeatable")
    warm_parser.add_argument("--user-id", action="append", default=[], help="repeatable")
    warm_parser.add_argument(
        "--cache-url", help="the cache to fill (default $CACHE_URL or memory://)"
    )
    add_connection_arguments(warm_parser)
    warm_parser.set_defaults(func=warm)


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
            return fail(f"cannot start: {error} ({hint})", PARTIAL)
        except (StackError, BotoCoreError, ClientError) as error:
            return fail(f"cannot start: {error}", PARTIAL)
        say(banner(stack))
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


def _invoke(name: str, event: dict[str, object]) -> int:
    set_table_variables()
    function = local_function(name, boto3.session.Session().region_name or "us-east-1")
    try:
        # The function's logs and metrics go to stderr: stdout carries only its result,
        # so `fleet sweep | jq .deleted` works.
        with contextlib.redirect_stdout(sys.stderr):
            result = function.invoke(event)
    except Exception as error:  # the function failed: say so in one line, as Lambda would
        return fail(f"{name} failed: {type(error).__name__}: {error}", PARTIAL)
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
