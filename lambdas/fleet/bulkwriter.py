"""One batch of a distributed import: records in, items written, given-up items out.

A Step Functions Distributed Map reads JSON Lines or CSV objects under an S3 prefix and
hands each worker a batch of records (``ItemReader`` + ``ItemBatcher``). This module turns
the records into items exactly as ``fleet import`` does (the record conversion is the same
code, :mod:`fleet.records`), applies the same item checks, writes them through the batch
layer at a share of a capacity budget, and returns the items it gave up as ``{"Item":
<DynamoDB JSON>}`` records: the rejects format that ``fleet import`` reads back. The map's
``ResultWriter`` flattens those lists into JSON Lines files in S3, so the rejects of a
distributed run re-import either way.

A batch holding a record that is not an item (bad JSON shape, missing key, a number that
is not a number) writes nothing and raises :class:`InvalidRecordsError`, naming every bad
record: the map does not retry it (retrying cannot help) and reports it, with its input,
among the failed batches. Nothing is dropped silently.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dynabatch import (
    BatchClient,
    CapacityBudget,
    Put,
    RetryPolicy,
    serialize_item,
)

from .checks import ItemProblem, check_item
from .records import (
    ValueProblem,
    cell_value,
    item_from_record,
    parse_column,
    wire_to_json,
)
from .sessions import with_expiry_shard
from .tables import SESSIONS, TableDef

__all__ = [
    "BatchInput",
    "BatchOutcome",
    "InvalidRecordsError",
    "FORMATS",
    "MAP",
    "MapSettings",
    "prepare_item",
    "items_from_records",
    "worker_share",
    "write_batch",
    "reject_record",
    "run_batch",
]

#: The object formats the map's ItemReader parses: one JSON object a line, or CSV rows.
FORMATS = ("jsonl", "csv")
#: How many problems an InvalidRecordsError spells out (the count is always complete).
MAX_PROBLEMS_SHOWN = 10


@dataclass(frozen=True)
class MapSettings:
    """How the Distributed Map cuts and retries work; the state machine (infra/bulkimport.py)
    and the local stand-in (fleetcli/bulk/cloudmap.py) both follow these numbers.

    Attributes
    ----------
    max_items_per_batch, max_input_bytes_per_batch:
        ItemBatcher's limits. 256 KiB is Step Functions' payload cap for a task's input.
    concurrency:
        Default MaxConcurrency: batches in flight at once.
    write_units_per_second:
        Default budget for the whole map: 4,000 WCU is what a new on-demand table takes at
        once without throttling (it grows from the table's previous peak).
    retry_interval_seconds, retry_max_attempts, retry_backoff_rate:
        The map retries a failed batch (Lambda errors, timeouts) with exponential backoff
        and full jitter; a batch of invalid records is never retried.
    """

    max_items_per_batch: int = 1000
    max_input_bytes_per_batch: int = 256 * 1024
    concurrency: int = 10
    write_units_per_second: int = 4000
    retry_interval_seconds: float = 2.0
    retry_max_attempts: int = 4
    retry_backoff_rate: float = 2.0


MAP = MapSettings()


class InvalidRecordsError(ValueError):
    """Records of a batch that cannot become items; nothing of the batch was written.

    ``problems`` lists ``(index in the batch, reason)`` for every bad record.
    """

    def __init__(self, problems: Sequence[tuple[int, str]]) -> None:
        self.problems = list(problems)
        shown = "; ".join(f"record {i}: {reason}" for i, reason in problems[:MAX_PROBLEMS_SHOWN])
        more = len(problems) - MAX_PROBLEMS_SHOWN
        super().__init__(
            f"{len(problems)} invalid records: {shown}" + (f"; and {more} more" if more > 0 else "")
        )


@dataclass(frozen=True)
class BatchInput:
    """What every batch of one run shares (the map's ``BatchInput``).

    Attributes
    ----------
    fmt:
        ``jsonl`` (records are parsed JSON objects) or ``csv`` (records map each header,
        ``name`` or ``name:TYPE``, to the cell's text).
    write_units_per_second:
        The run's whole capacity budget for the table; ``None`` does not pace.
    concurrency:
        Batches the map runs at once; each worker keeps to its share of the budget.
    """

    fmt: str = "jsonl"
    write_units_per_second: float | None = None
    concurrency: int = 1

    @classmethod
    def from_event(cls, data: Mapping[str, Any] | None) -> BatchInput:
        """Read ``BatchInput`` as the state machine sends it (camelCase keys).

        Raises
        ------
        ValueError
            An unknown format, a budget that is not a positive number, a concurrency < 1.
        """
        data = data or {}
        fmt = str(data.get("format") or "jsonl").lower()
        if fmt not in FORMATS:
            raise ValueError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
        units = data.get("writeUnitsPerSecond")
        budget = float(units) if units not in (None, "", 0, "0") else None
        if budget is not None and budget <= 0:
            raise ValueError(f"writeUnitsPerSecond={units!r}: a positive number, or 0 for none")
        concurrency = int(data.get("concurrency") or 1)
        if concurrency < 1:
            raise ValueError(f"concurrency={concurrency}: at least 1")
        return cls(fmt, budget, concurrency)

    @property
    def worker_units(self) -> float | None:
        """This worker's share of the budget: see :func:`worker_share`."""
        return worker_share(self.write_units_per_second, self.concurrency)


def worker_share(write_units_per_second: float | None, concurrency: int) -> float | None:
    """Write units per second one worker may use: the budget divided by the concurrency.

    Every worker of the map pacing itself to ``budget / concurrency`` keeps the whole map
    at or under the budget without any coordination between workers.

    Example
    -------
    >>> worker_share(4000, 10)
    400.0
    """
    if write_units_per_second is None:
        return None
    return float(write_units_per_second) / max(concurrency, 1)


@dataclass
class BatchOutcome:
    """What one batch did: ``written`` items, and the ``rejects`` records given up."""

    received: int = 0
    written: int = 0
    superseded: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def prepare_item(item: dict[str, Any], table: TableDef) -> dict[str, Any]:
    """The item checks ``fleet import`` applies: a session gets its expiry shard (or the
    sweeper would never find it), then the batch layer's per-item check (keys present,
    typed and non-empty, empty sets, number range and precision, 400 KB).

    Raises
    ------
    ValueError
        Naming the attribute at fault and the problem.
    """
    if table is SESSIONS:
        with_expiry_shard(item)
    key_types = {a["AttributeName"]: a["AttributeType"] for a in table.attribute_definitions()}
    try:
        check_item(item, table.key_names(), key_types, table.logical_name)
    except ItemProblem as problem:
        raise ValueError(str(problem)) from None
    return item


def _item_from_csv_row(row: Mapping[str, Any]) -> dict[str, Any]:
    # The map's CSV reader gives header -> text; the header carries the type as in a local
    # CSV import (``expiresAt:N``), and an empty cell is an absent attribute there too.
    item: dict[str, Any] = {}
    for header, text in row.items():
        name, kind = parse_column(str(header))
        if text is None or text == "":
            continue
        value = cell_value(str(text), kind, name)
        if value is not None:
            item[name] = value
    return item


def items_from_records(records: Sequence[Any], fmt: str, table: TableDef) -> list[dict[str, Any]]:
    """Every record of a batch as a checked item, or an error naming each bad record.

    Raises
    ------
    InvalidRecordsError
        If any record cannot be an item; then none is returned.
    """
    items: list[dict[str, Any]] = []
    problems: list[tuple[int, str]] = []
    for index, record in enumerate(records):
        try:
            if fmt == "csv":
                if not isinstance(record, Mapping):
                    raise ValueProblem(f"expected a CSV row, got {type(record).__name__}")
                item = _item_from_csv_row(record)
            else:
                item = item_from_record(_exact_numbers(record), table.logical_name)
            items.append(prepare_item(item, table))
        except ValueError as problem:  # ValueProblem is a ValueError
            problems.append((index, str(problem)))
    if problems:
        raise InvalidRecordsError(problems)
    return items


def _exact_numbers(record: Any) -> Any:
    # Step Functions hands records over as JSON already parsed into floats by the Lambda
    # runtime's json.loads; a round trip through Decimal keeps what the file said for any
    # number a double holds exactly, which is what the map itself can carry.
    return json.loads(json.dumps(record), parse_float=Decimal)


def reject_record(request: Mapping[str, Any]) -> dict[str, Any] | None:
    """A given-up ``PutRequest`` as the line ``fleet import`` re-imports (lossless JSON)."""
    item = request.get("PutRequest", {}).get("Item")
    if item is None:
        return None
    return {"Item": wire_to_json(serialize_item(item))}


def write_batch(
    batch: BatchClient, table_name: str, items: Sequence[dict[str, Any]]
) -> BatchOutcome:
    """Write ``items`` to ``table_name`` through the batch layer; never raises for items.

    Items still unwritten after the batch layer's retries (throttling past the budget,
    an item DynamoDB refuses) come back in ``rejects``; the last write of a key wins.
    """
    outcome = BatchOutcome(received=len(items))
    result = batch.write_items(
        [Put(table_name, item) for item in items], raise_on_unprocessed=False
    )
    outcome.written = result.written
    outcome.superseded = result.superseded
    for requests in result.unprocessed.values():
        for request in requests:
            record = reject_record(request)
            if record is not None:
                outcome.rejects.append(record)
    outcome.errors = [f"{error.code}: {error.message}" for error in result.errors]
    return outcome


def run_batch(
    client: Any,
    table: TableDef,
    table_name: str,
    records: Sequence[Any],
    spec: BatchInput,
    *,
    retry: RetryPolicy,
    metrics: Any = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchOutcome:
    """Convert, check and write one batch at this worker's share of the budget.

    ``client`` is the process's DynamoDB client (reused across invocations); the batch
    client around it is per invocation because the share and the deadline are.

    Raises
    ------
    InvalidRecordsError
        Some record is not an item; nothing was written.
    """
    items = items_from_records(records, spec.fmt, table)
    share = spec.worker_units
    capacity = (
        CapacityBudget(write_units_per_second=share, clock=clock, sleep=sleep) if share else None
    )
    with BatchClient(
        client,
        retry=retry,
        metrics=metrics,
        capacity=capacity,
        key_schemas={table_name: table.key_names()},
    ) as batch:
        return write_batch(batch, table_name, items)
