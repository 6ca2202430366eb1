"""Expired-session sweeper, run by an EventBridge schedule."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from fleet.observability import logger, metrics
from fleet.runtime import Runtime, get_runtime
from fleet.sweeper import Sweeper
from fleet.tables import SESSIONS


def _sweeper(runtime: Runtime) -> Sweeper:
    runtime.settings.require(SESSIONS)
    return Sweeper(runtime.batch("bulk"), runtime.settings.table_name(SESSIONS))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: returns the counts of the run."""
    runtime = get_runtime()
    sweeper = runtime.service("sweeper", _sweeper)
    logger.append_keys(schedule_time=event.get("time"))
    report = sweeper.sweep(
        time_left=lambda: context.get_remaining_time_in_millis() / 1000.0,
        margin_seconds=runtime.settings.sweeper_safety_margin_seconds,
    )
    metrics.add_metric("SessionsDeleted", "Count", report.deleted)
    metrics.add_metric("SessionsSkippedNotExpired", "Count", report.skipped_not_expired)
    metrics.add_metric("SweepStoppedEarly", "Count", int(report.stopped_early))
    result = report.as_dict()
    logger.info("sweep finished", extra=result)
    return result
