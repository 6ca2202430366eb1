"""Bulk writer: one batch of a Step Functions Distributed Map import (fleet.bulkwriter)."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from fleet.bulkwriter import BatchInput, run_batch
from fleet.observability import logger, metrics
from fleet.runtime import BULK_RETRY, get_runtime
from fleet.tables import ALL_TABLES, TableDef

#: Names the one table this function writes (``devices``, ``users`` or ``sessions``).
TABLE_VARIABLE = "BULK_IMPORT_TABLE"
#: Left of the invocation when the batch layer stops starting requests: time to answer.
SAFETY_MARGIN_SECONDS = 5.0


def _table() -> TableDef:
    logical = os.environ.get(TABLE_VARIABLE, "")
    for table in ALL_TABLES:
        if table.logical_name == logical:
            return table
    raise RuntimeError(f"{TABLE_VARIABLE}={logical!r}: not one of the fleet's tables")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> list[dict[str, Any]]:
    """Writes the batch; returns the given-up items as rejects records (often none).

    The map's ResultWriter flattens these lists into JSON Lines files: the rejects file.
    """
    runtime = get_runtime()
    table = _table()
    runtime.settings.require(table)
    budget = context.get_remaining_time_in_millis() / 1000.0 - SAFETY_MARGIN_SECONDS
    outcome = run_batch(
        runtime.client,
        table,
        runtime.settings.table_name(table),
        event.get("Items") or [],
        BatchInput.from_event(event.get("BatchInput")),
        retry=replace(BULK_RETRY, deadline=max(budget, 1.0)),
        metrics=metrics,
    )
    metrics.add_metric("BulkItemsWritten", "Count", outcome.written)
    metrics.add_metric("BulkItemsGivenUp", "Count", len(outcome.rejects))
    logger.info(
        "batch written",
        extra={
            "received": outcome.received,
            "written": outcome.written,
            "given_up": len(outcome.rejects),
            "errors": outcome.errors[:5],
        },
    )
    return outcome.rejects
