"""``fleet run``, ``fleet sweep``, ``fleet warm`` and ``fleet invoke``: the local stack
and its functions."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from fleetcli.common import OK, PARTIAL, USAGE, fail, positive, seconds
from fleetcli.env import add_connection_arguments, apply_connection, set_table_variables

from .banner import banner
from .console import MetricsFilter, quiet_metrics
from .httpapi import LOOPBACK_HOSTS
from .invoke import events_dir, function_names, local_function, scheduled_event
from .stack import LocalStack, StackError, StackOptions

__all__ = ["add_run_parser", "add_function_parsers", "run", "banner", "sweep", "warm", "invoke"]

_DEFAULTS = StackOptions()
_MEMORY_WARNING = (
    "fleet: warning: memory:// is this command's own cache: what it warms is gone when it "
    "exits. To warm the cache a running `fleet run` reads, give both the same "
    "--cache-url redis://HOST:PORT\n"
)


def add_run_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``fleet run``."""
    parser = sub.add_parser(
        "run",
        help="the whole system on this machine (make run)",
        description="Start moto's DynamoDB server, the tables, demo data, the HTTP API and "
        "the schedules; print the commands to try it. Ctrl-C stops everything.",
    )
    parser.add_argument(
        "--host",
        default=_DEFAULTS.host,
        help="HTTP API address (127.0.0.1; anything but loopback needs --allow-remote)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="DANGER: let --host be a non-loopback address, reachable from other machines",
    )
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
        "--allow-dev-identity-remote",
        action="store_true",
        help="DANGER: honour X-Dev-User even when the tables are not on this machine",
    )
    parser.add_argument(
        "--cache-url", default=_DEFAULTS.cache_url, help="memory:// (embedded) or a redis:// URL"
    )
    parser.add_argument(
        "--demo-data",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="load demo data (default: yes on a local endpoint with no saved state, no on a "
        "real account)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="save the local tables to DIR when stopped and load them from it when started "
        "(e.g. .local-state); default: start from the demo data each time",
    )
    _schedule_flags(parser)
    parser.add_argument(
        "--concurrency",
        type=positive,
        default=_DEFAULTS.concurrency,
        help="invocations of one scheduled function at once, as Lambda runs them (the HTTP "
        f"functions take turns: Powertools' resolver state is per process) "
        f"(default {_DEFAULTS.concurrency})",
    )
    parser.add_argument(
        "--api-timeout",
        type=seconds,
        default=_DEFAULTS.api_timeout,
        metavar="SECONDS",
        help=f"answer 504 when a function takes longer (API Gateway's {_DEFAULTS.api_timeout:g})",
    )
    parser.add_argument(
        "--idle-timeout",
        type=seconds,
        default=_DEFAULTS.idle_timeout,
        metavar="SECONDS",
        help=f"drop a connection silent this long (default {_DEFAULTS.idle_timeout:g}; 0: never)",
    )
    parser.add_argument(
        "--reload",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="re-import the handlers when their code changes (default: yes)",
    )
    parser.add_argument("--verbose", action="store_true", help="function logs at INFO and metrics")
    parser.set_defaults(func=run, parser=parser)


def _schedule_flags(parser: argparse.ArgumentParser) -> None:
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


def add_function_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``fleet sweep``, ``fleet warm`` and ``fleet invoke``."""
    sweep_parser = sub.add_parser(
        "sweep",
        help="run the expired-session sweeper once and print what it did",
        description="Invoke the sweeper's handler once with a Scheduled Event.",
    )
    _function_flags(sweep_parser)
    sweep_parser.set_defaults(func=sweep)
    warm_parser = sub.add_parser(
        "warm",
        help="run the cache warmer once and print what it did",
        description="Invoke the warmer's handler once: with no ids, the Scheduled Event "
        "(devices of users with a live session); else the given devices or users. It fills "
        "the cache named by --cache-url / CACHE_URL; memory:// (the default) lives in this "
        "command's own process and is gone when the command exits. To warm the cache a "
        "running `fleet run` reads, give both the same redis:// URL.",
    )
    ids = warm_parser.add_mutually_exclusive_group()
    ids.add_argument("--device-id", action="append", default=[], help="repeatable")
    ids.add_argument("--user-id", action="append", default=[], help="repeatable")
    warm_parser.add_argument(
        "--cache-url",
        help="the cache to fill (default $CACHE_URL, else memory://: this process's own)",
    )
    _function_flags(warm_parser)
    warm_parser.set_defaults(func=warm)
    invoke_parser = sub.add_parser(
        "invoke",
        help="invoke one function with an event file, as `sam local invoke` does",
        description="Run FUNCTION's handler once in this process with the event in FILE "
        "and print what it returns on stdout. Without --event: the sample event shipped "
        "for that function (fleetcli/local/events/FUNCTION.json).",
    )
    invoke_parser.add_argument("function", choices=function_names(), metavar="FUNCTION")
    invoke_parser.add_argument(
        "--event", metavar="FILE", help="the event: a JSON file, or - for standard input"
    )
    invoke_parser.add_argument(
        "--cache-url", help="the cache (default $CACHE_URL, else memory://: this process's own)"
    )
    add_connection_arguments(invoke_parser)
    invoke_parser.add_argument(
        "--verbose", action="store_true", help="the function's metrics on stdout too"
    )
    invoke_parser.set_defaults(func=invoke)


def _function_flags(parser: argparse.ArgumentParser) -> None:
    add_connection_arguments(parser)
    parser.add_argument(
        "--output",
        choices=("text", "json"),
        default="text",
        help="json: one JSON object on stdout, logs on stderr (docs/cli.md)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="the function's metrics on stdout too"
    )


def run(args: argparse.Namespace) -> int:
    """Start the local stack, print how to use it, wait for Ctrl-C or SIGTERM, stop it all."""
    if args.host not in LOOPBACK_HOSTS and not args.allow_remote:
        parser: argparse.ArgumentParser = args.parser
        parser.error(
            f"--host {args.host} would let other machines reach this development server "
            "(no authentication but X-Dev-User); add --allow-remote if that is really meant"
        )
    if args.profile:
        os.environ["AWS_PROFILE"] = args.profile
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    quiet_metrics(args.verbose)
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
        allow_remote=args.allow_remote,
        dev_identity_remote=args.allow_dev_identity_remote,
        concurrency=args.concurrency,
        api_timeout=args.api_timeout,
        idle_timeout=args.idle_timeout,
        reload=args.reload,
        state_dir=args.state_dir,
    )
    code = _serve(LocalStack(options))
    # Whatever a function is still doing (a daemon thread) ends with the process now, and
    # a large heap is not torn down object by object: the exit is immediate.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _serve(stack: LocalStack) -> int:
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        del frame
        sys.stderr.write(f"\nfleet: {signal.Signals(signum).name}: stopping\n")
        stopping.set()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            stack.start()
        except OSError as error:
            hint = "is the port in use? try --port / --dynamodb-port"
            return fail(f"cannot start: {error} ({hint})", PARTIAL)
        except (StackError, BotoCoreError, ClientError) as error:
            return fail(f"cannot start: {error}", PARTIAL)
        print(banner(stack), flush=True)
        while not stopping.wait(0.5):
            pass
    finally:
        try:
            stack.stop()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    if stack.saved:
        saved = ", ".join(f"{t} {n}" for t, n in stack.saved.items())
        sys.stderr.write(f"fleet: saved to {stack.options.state_dir}: {saved} items\n")
    sys.stderr.write("fleet: stopped; nothing left running\n")
    return OK


def _invoke(name: str, event: dict[str, Any]) -> tuple[int, Any, str | None]:
    """Run function ``name`` on ``event`` here: (exit code, its result, error message)."""
    set_table_variables()
    function = local_function(name, boto3.session.Session().region_name or "us-east-1")
    try:
        # The function's logs go to stderr: stdout carries only the result, so
        # `fleet sweep --output json | jq .result.deleted` works.
        quiet = isinstance(sys.stdout, MetricsFilter)
        with contextlib.redirect_stdout(MetricsFilter(sys.stderr) if quiet else sys.stderr):
            return OK, function.invoke(event), None
    except Exception as error:  # the function failed: say so in one line, as Lambda would
        return PARTIAL, None, f"{name} failed: {type(error).__name__}: {error}"


def _report(args: argparse.Namespace, command: str, name: str, event: dict[str, Any]) -> int:
    code, result, error = _invoke(name, event)
    if args.output == "json":
        document = {
            "command": command,
            "status": "ok" if code == OK else "partial",
            "exit_code": code,
            # The shape of fleetcli.common.emit_json's documents (docs/cli.md).
            "error": None
            if error is None
            else {"message": error, "file": None, "line": None, "attribute": None},
            "function": name,
            "result": result,
        }
        print(json.dumps(document, default=str), flush=True)
    elif isinstance(result, dict):
        print(f"{command}: " + ", ".join(f"{k} {v}" for k, v in result.items()), flush=True)
    return code if error is None else fail(error, code)


def _quiet_environment(args: argparse.Namespace) -> None:
    apply_connection(args)
    quiet_metrics(args.verbose)
    if not args.verbose:
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


def sweep(args: argparse.Namespace) -> int:
    """``fleet sweep``: the sweeper once, with the event its schedule sends."""
    _quiet_environment(args)
    region = boto3.session.Session().region_name or "us-east-1"
    return _report(args, "sweep", "sweeper", scheduled_event("fleet-cli-sweep", region))


def _use_cache(url: str | None) -> None:
    if url:
        os.environ["CACHE_URL"] = url
    os.environ.setdefault("CACHE_URL", "memory://")
    if os.environ["CACHE_URL"].startswith("memory://"):
        sys.stderr.write(_MEMORY_WARNING)


def warm(args: argparse.Namespace) -> int:
    """``fleet warm``: the warmer once (the scheduled event, or the ids given)."""
    _quiet_environment(args)
    _use_cache(args.cache_url)
    region = boto3.session.Session().region_name or "us-east-1"
    event: dict[str, Any]
    if args.device_id:
        event = {"deviceIds": args.device_id}
    elif args.user_id:
        event = {"userIds": args.user_id}
    else:
        event = scheduled_event("fleet-cli-warm", region)
    return _report(args, "warm", "warmer", event)


def invoke(args: argparse.Namespace) -> int:
    """``fleet invoke FUNCTION --event FILE``: the handler once, its result on stdout."""
    source = args.event or str(events_dir() / f"{args.function}.json")
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        event = json.loads(text)
    except (OSError, ValueError) as error:
        return fail(f"{source}: cannot read the event: {error}", USAGE)
    if not isinstance(event, dict):
        return fail(f"{source}: the event must be a JSON object", USAGE)
    os.environ.setdefault("CALLER_CLAIM", "sub")
    _quiet_environment(args)
    if args.function == "warmer":
        _use_cache(args.cache_url)
    elif args.cache_url:
        os.environ["CACHE_URL"] = args.cache_url
    os.environ.setdefault("CACHE_URL", "memory://")
    code, result, failure = _invoke(args.function, event)
    if failure is not None:
        return fail(failure, code)
    print(json.dumps(result, indent=2, default=str), flush=True)
    return code
