"""What every ``fleet`` subcommand shares: exit codes, one-line failures, common flags."""

from __future__ import annotations

import argparse
import sys

__all__ = ["OK", "PARTIAL", "USAGE", "INTERRUPTED", "fail", "say", "positive", "seconds"]

OK, PARTIAL, USAGE, INTERRUPTED = 0, 1, 2, 130


def fail(message: str, code: int = USAGE) -> int:
    """Say what went wrong in one line on stderr; return the exit code."""
    sys.stderr.write(f"fleet: {message}\n")
    return code


def say(message: str) -> None:
    """A result line on stdout."""
    print(message, flush=True)


def positive(text: str) -> int:
    """argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def seconds(text: str) -> float:
    """argparse type: seconds, 0 (off) or more."""
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (off) or more")
    return value
