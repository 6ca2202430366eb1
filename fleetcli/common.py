"""What every ``fleet`` subcommand shares: exit codes, one-line failures, common flags,
and the ``--output json`` document (its conventions are in docs/cli.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from typing import Any

__all__ = [
    "OK",
    "PARTIAL",
    "USAGE",
    "INTERRUPTED",
    "STATUS",
    "fail",
    "say",
    "positive",
    "seconds",
    "add_output_flag",
    "wants_json",
    "emit_json",
    "error_fields",
]

OK, PARTIAL, USAGE, INTERRUPTED = 0, 1, 2, 130

#: ``status`` of the JSON document, by exit code.
STATUS = {OK: "ok", PARTIAL: "partial", USAGE: "invalid", INTERRUPTED: "interrupted"}


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


def add_output_flag(parser: argparse.ArgumentParser) -> None:
    """``--output text|json``: json prints one JSON object on stdout (docs/cli.md)."""
    parser.add_argument(
        "--output",
        choices=("text", "json"),
        default="text",
        help="json: one JSON object on stdout, progress and logs on stderr (docs/cli.md)",
    )


def wants_json(args: argparse.Namespace) -> bool:
    """True when the command was asked for ``--output json``."""
    return getattr(args, "output", "text") == "json"


def error_fields(
    message: str,
    *,
    file: str | None = None,
    line: int | None = None,
    attribute: str | None = None,
) -> dict[str, Any]:
    """The ``error`` member of the JSON document."""
    return {"message": message, "file": file, "line": line, "attribute": attribute}


def emit_json(
    command: str, code: int, fields: dict[str, Any], error: dict[str, Any] | None = None
) -> int:
    """Print the command's one JSON object on stdout; returns ``code``.

    Every document has ``command``, ``status`` (``ok``, ``partial``, ``invalid``,
    ``interrupted``), ``exit_code`` and ``error`` (``null`` or ``{message, file, line,
    attribute}``), then the command's own fields (counts as integers, ``seconds`` as a
    number, paths as strings or ``null``).
    """
    document = {
        "command": command,
        "status": STATUS.get(code, "failed"),
        "exit_code": code,
        "error": error,
        **fields,
    }
    sys.stdout.write(json.dumps(document, default=_plain, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    if error is not None:
        sys.stderr.write(f"fleet: {error['message']}\n")
    return code


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
