"""Keeping the console quiet: the functions' metrics stay off it without ``--verbose``.

Powertools prints its metrics (CloudWatch EMF, one JSON object per line starting with
``{"_aws"``) with ``print``. ``POWERTOOLS_METRICS_DISABLED`` stops the flush at the end of
an invocation but not the one Powertools forces when a metric reaches 100 values, and a
disabled flush never clears them, so values pile up across invocations until that forced
flush prints a blob of many KB (after about 16 minutes of schedules). This filter drops
those lines from stdout, whoever prints them; every other line passes.
"""

from __future__ import annotations

import io
import sys
import threading
from typing import TextIO

__all__ = ["MetricsFilter", "quiet_metrics"]

_EMF_PREFIX = '{"_aws"'


class MetricsFilter(io.TextIOBase):
    """A stdout that drops EMF lines and passes everything else to ``target``."""

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self.target = target
        self._pending = threading.local()

    def write(self, text: str) -> int:
        buffered = getattr(self._pending, "text", "") + text
        lines = buffered.split("\n")
        self._pending.text = lines.pop()  # an unfinished line waits for its end
        passed = [line for line in lines if not line.lstrip().startswith(_EMF_PREFIX)]
        if passed:
            self.target.write("\n".join(passed) + "\n")
        return len(text)

    def flush(self) -> None:
        pending = getattr(self._pending, "text", "")
        if pending and not pending.lstrip().startswith(_EMF_PREFIX):
            self.target.write(pending)
            self._pending.text = ""
        self.target.flush()

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.target.fileno()

    def isatty(self) -> bool:
        return self.target.isatty()


def quiet_metrics(verbose: bool) -> None:
    """Install the filter on ``sys.stdout`` unless ``verbose`` (once)."""
    if not verbose and not isinstance(sys.stdout, MetricsFilter):
        sys.stdout = MetricsFilter(sys.stdout)
