"""``fleet``: the Device Fleet command line.

Exit codes: 0 done; 1 done in part (items given up, keys unread, a function failed);
2 bad usage or bad input (one line naming the file, line and problem); 130 interrupted
(Ctrl-C) -- an interrupted import resumes where it stopped when run again.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from . import commands
from .bulk.formats import FORMATS
from .env import add_connection_arguments
from .local.stack import StackOptions

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "EXIT_INTERRUPTED"]

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
TABLES = ("devices", "users", "sessions")
_DEFAULTS = StackOptions()


def _progress_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    parser.add_argument(
        "--concurrency", type=_positive, default=16, help="requests in flight (default 16)"
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (off) or more")
    return value


def _run_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run",
        help="the whole system on this machine (make run)",
        description="Start moto's DynamoDB server, the tables, demo data, the HTTP API and "
        "the schedules; print the commands to try it. Ctrl-C stops everything.",
    )
    run.add_argument("--host", default=_DEFAULTS.host, help="HTTP API address (127.0.0.1)")
    run.add_argument(
        "--port", type=int, default=_DEFAULTS.port, help="HTTP API port (3000; 0: any)"
    )
    run.add_argument(
        "--dynamodb-endpoint",
        help="use this DynamoDB endpoint instead of starting one (DynamoDB Local, or "
        "https://dynamodb.REGION.amazonaws.com with --profile)",
    )
    run.add_argument(
        "--dynamodb-port",
        type=int,
        default=_DEFAULTS.dynamodb_port,
        help="port of the embedded DynamoDB endpoint (8000; 0: any)",
    )
    run.add_argument("--profile", help="AWS profile, for a real account")
    run.add_argument("--region", help="AWS region (local default us-east-1)")
    run.add_argument(
        "--cache-url", default=_DEFAULTS.cache_url, help="memory:// (embedded) or a redis:// URL"
    )
    run.add_argument(
        "--demo-data",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="load demo data (default: yes on a local endpoint, no on a real account)",
    )
    run.add_argument(
        "--sweep-every",
        type=_seconds,
        default=_DEFAULTS.sweep_every,
        metavar="SECONDS",
        help=f"sweeper schedule rate (default {_DEFAULTS.sweep_every:g}; 0: off)",
    )
    run.add_argument(
        "--warm-every",
        type=_seconds,
        default=_DEFAULTS.warm_every,
        metavar="SECONDS",
        help=f"warmer schedule rate (default {_DEFAULTS.warm_every:g}; 0: off)",
    )
    run.add_argument("--verbose", action="store_true", help="function logs at INFO and metrics")
    run.set_defaults(func=commands.run)


def _bulk_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    imp.add_argument("--chunk-size", type=_positive, default=2000, help="items per checkpoint")
    _progress_flags(imp)
    add_connection_arguments(imp)
    imp.set_defaults(func=commands.import_)

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
    exp.add_argument("--segments", type=_positive, default=4, help="parallel scan segments (4)")
    _progress_flags(exp)
    add_connection_arguments(exp)
    exp.set_defaults(func=commands.export)

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
    app.set_defaults(func=commands.apply)


def _function_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sweep = sub.add_parser(
        "sweep",
        help="run the expired-session sweeper once and print what it did",
        description="Invoke the sweeper's handler once with a Scheduled Event.",
    )
    add_connection_arguments(sweep)
    sweep.set_defaults(func=commands.sweep)
    warm = sub.add_parser(
        "warm",
        help="run the cache warmer once and print what it did",
        description="Invoke the warmer's handler once: with no ids, the Scheduled Event "
        "(devices of users with a live session); else the given devices / users.",
    )
    warm.add_argument("--device-id", action="append", default=[], help="repeatable")
    warm.add_argument("--user-id", action="append", default=[], help="repeatable")
    warm.add_argument("--cache-url", help="the cache to fill (default $CACHE_URL or memory://)")
    add_connection_arguments(warm)
    warm.set_defaults(func=commands.warm)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(
        prog="fleet",
        description="Device Fleet: run the whole system locally, and bulk-move data.",
        epilog="Exit codes: 0 ok, 1 partly done (see the summary), 2 bad usage or input, "
        "130 interrupted. See docs/local.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _run_parser(sub)
    _bulk_parsers(sub)
    _function_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fleet`` script; returns the exit code."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        sys.stderr.write("fleet: interrupted\n")
        return EXIT_INTERRUPTED
    except (BotoCoreError, ClientError) as error:
        # No credentials, no such table, access denied...: what AWS said, in one line.
        sys.stderr.write(f"fleet: {error}\n")
        return EXIT_PARTIAL


if __name__ == "__main__":
    sys.exit(main())
