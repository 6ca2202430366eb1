"""Per-call counters, emitted as Powertools metrics once the call ends.

The layer never imports Powertools: it takes any object with ``add_metric(name, unit,
value)`` (a Powertools ``Metrics``). Counting happens in the coordinating thread only, so
no lock is needed, and with no metrics object nothing is emitted at all.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["MetricsSink", "CallStats"]


class MetricsSink(Protocol):
    """What the layer needs of a metrics object: Powertools' ``Metrics.add_metric``."""

    def add_metric(self, name: str, unit: Any, value: float) -> None: ...


@dataclass
class CallStats:
    """What one batch-layer call did; ``emit`` turns it into metrics named ``<Operation><What>``."""

    operation: str
    requests: int = 0
    items: int = 0
    retried: int = 0
    throttles: int = 0
    given_up: int = 0
    read_units: float = 0.0
    write_units: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def add_capacity(self, consumed: Iterable[Mapping[str, Any]] | None) -> None:
        """Add a response's ConsumedCapacity entries to the read/write unit totals."""
        for entry in consumed or ():
            read = entry.get("ReadCapacityUnits")
            write = entry.get("WriteCapacityUnits")
            if read is None and write is None:
                # Without per-side figures, the operation says which side it was.
                units = float(entry.get("CapacityUnits", 0.0))
                if self.operation in ("BatchWriteItem", "TransactWriteItems"):
                    self.write_units += units
                else:
                    self.read_units += units
            else:
                self.read_units += float(read or 0.0)
                self.write_units += float(write or 0.0)

    def emit(self, metrics: MetricsSink | None) -> None:
        """Send the counters to ``metrics``; does nothing when it is ``None``."""
        if metrics is None:
            return
        op = self.operation
        add = metrics.add_metric
        add(f"{op}Requests", "Count", self.requests)
        add(f"{op}Items", "Count", self.items)
        add(f"{op}UnprocessedRetried", "Count", self.retried)
        add(f"{op}Throttles", "Count", self.throttles)
        add(f"{op}ItemsGivenUp", "Count", self.given_up)
        add(f"{op}ConsumedRCU", "Count", self.read_units)
        add(f"{op}ConsumedWCU", "Count", self.write_units)
        add(f"{op}Latency", "Milliseconds", (time.perf_counter() - self.started) * 1000.0)
