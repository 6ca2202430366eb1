"""Ownership transfer: ``POST /devices/{deviceId}/transfer`` (HTTP API, payload 2.0)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from fleet.deployment import TRANSFER_ROUTE, powertools_route
from fleet.http import (
    body_bytes,
    caller_id,
    invocation_deadline,
    json_response,
    make_resolver,
    path_value,
)
from fleet.idempotency import IdempotentTransfers, check_key
from fleet.observability import logger, metrics
from fleet.runtime import Runtime, get_runtime
from fleet.tables import DEVICES, IDEMPOTENCY, USERS
from fleet.transfer import TransferService, authorize, parse_transfer

app = make_resolver()


def _transfers(runtime: Runtime) -> IdempotentTransfers:
    settings = runtime.settings
    settings.require(DEVICES, USERS, IDEMPOTENCY)
    service = TransferService(
        runtime.batch("api"),
        runtime.cache,
        devices_table=settings.table_name(DEVICES),
        users_table=settings.table_name(USERS),
    )
    return IdempotentTransfers(service, settings.table_name(IDEMPOTENCY), runtime.retrying_client())


@app.post(powertools_route(TRANSFER_ROUTE))
def transfer(deviceId: str) -> Response[str]:
    runtime = get_runtime()
    transfers = runtime.service("transfer", _transfers)
    caller = caller_id(app, runtime.settings.caller_claim)
    event = app.current_event
    request = parse_transfer(path_value(deviceId), body_bytes(app))
    authorize(request, caller)
    key = event.headers.get("Idempotency-Key")  # case-insensitive in Powertools v3
    result = transfers.transfer(
        request,
        caller=caller,
        key=check_key(key) if key is not None else None,
        context=app.lambda_context,
        deadline_at=invocation_deadline(app),
    )
    metrics.add_metric("DevicesTransferred", "Count", 1)
    return json_response(200, result)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point."""
    return app.resolve(event, context)
