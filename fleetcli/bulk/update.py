"""``fleet update TABLE KEYS_FILE --set attr=value``: placeholder until update_items lands."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["add_parser"]


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """``fleet update`` (not yet)."""
    del sub, common
