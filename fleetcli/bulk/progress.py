"""Progress bars (tqdm on stderr) and the one-line summaries the commands end with."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

__all__ = ["progress_bar", "rate"]


def progress_bar(enabled: bool | None, description: str, total: int | None = None) -> tqdm[Any]:
    """An item-counting bar (items/s and ETA) on stderr.

    ``enabled=None`` shows it only when stderr is a terminal, so logs and pipes stay clean.
    """
    disable = not sys.stderr.isatty() if enabled is None else not enabled
    return tqdm(
        total=total,
        desc=description,
        unit=" items",
        unit_scale=True,
        dynamic_ncols=True,
        smoothing=0.1,
        disable=disable,
        file=sys.stderr,
    )


def rate(count: int, seconds: float) -> str:
    """``"3,120 items/s"``; a whole number, readable."""
    return f"{count / seconds:,.0f} items/s" if seconds > 0 else "- items/s"
