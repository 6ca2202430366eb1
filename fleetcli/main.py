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

from . import completion
from .bulk import cli as bulk_cli
from .common import INTERRUPTED, OK, PARTIAL, USAGE
from .local import cli as local_cli

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "EXIT_INTERRUPTED"]

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_INTERRUPTED = OK, PARTIAL, USAGE, INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(
        prog="fleet",
        description="Device Fleet: run the whole system locally, and bulk-move data.",
        epilog="Exit codes: 0 ok, 1 partly done (see the summary), 2 bad usage or input, "
        "130 interrupted. See docs/local.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    local_cli.add_run_parser(sub)
    bulk_cli.add_parsers(sub)
    local_cli.add_function_parsers(sub)
    completion.add_parser(sub)
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
