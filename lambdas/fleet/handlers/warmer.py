"""Cache warmer: EventBridge schedule, or a manual invoke with ``deviceIds`` / ``userIds``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from fleet.observability import logger, metrics
from fleet.runtime import Runtime, get_runtime
from fleet.tables import DEVICES, SESSIONS, USERS
from fleet.warmer import Warmer, parse_warm_event


def _warmer(runtime: Runtime) -> Warmer:
    settings = runtime.settings
    settings.require(DEVICES, USERS)
    return Warmer(
        runtime.batch("bulk"),
        runtime.cache,
        devices_table=settings.table_name(DEVICES),
        users_table=settings.table_name(USERS),
        sessions_table=settings.tables.get(SESSIONS.logical_name),
        ttl_seconds=settings.cache_ttl_seconds,
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: returns the counts of the run."""
    target = parse_warm_event(event)
    if target.source == "liveSessions" and event:
        scheduled = EventBridgeEvent(event)
        logger.append_keys(schedule_time=scheduled.time, rule=scheduled.resources)
    warmer = get_runtime().service("warmer", _warmer)
    report = warmer.warm(target)
    metrics.add_metric("DevicesWarmed", "Count", report["warmed"])
    metrics.add_metric("DevicesMissing", "Count", report["missing"])
    logger.info("warm finished", extra=report)
    return report
