"""``fleet completion bash|zsh``: shell completion written from the parser itself.

shtab turns the argparse parser into a bash or zsh completion script, so every
subcommand, flag and choice the parser knows completes, and nothing drifts when a flag
is added. Writing zsh's ``_arguments`` specs by hand for a dozen subcommands would be
the alternative.
"""

from __future__ import annotations

import argparse
import sys

import shtab

from .common import OK

__all__ = ["add_parser"]

_HOW = {
    "bash": 'eval "$(fleet completion bash)"   # in ~/.bashrc',
    "zsh": 'eval "$(fleet completion zsh)"    # in ~/.zshrc, after compinit',
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``fleet completion SHELL``."""
    comp = sub.add_parser(
        "completion",
        help="print a bash or zsh completion script",
        description="Print the completion script for SHELL. Enable it with:  "
        + "   or   ".join(_HOW.values()),
    )
    comp.add_argument("shell", choices=sorted(_HOW))
    comp.set_defaults(func=_completion)


def _completion(args: argparse.Namespace) -> int:
    from .main import build_parser  # the whole parser, built the same way `fleet` is

    sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
    sys.stdout.write("\n")
    return OK
