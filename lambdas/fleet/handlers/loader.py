"""Device-list loader: ``GET /users/{userId}/devices`` (API Gateway HTTP API, payload 2.0)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from fleet.deployment import LIST_DEVICES_ROUTE, powertools_route
from fleet.devices import DeviceLoader, parse_page_request
from fleet.errors import Forbidden
from fleet.http import caller_id, invocation_deadline, json_response, make_resolver, path_value
from fleet.observability import logger, metrics
from fleet.runtime import Runtime, get_runtime
from fleet.tables import DEVICES, USERS

app = make_resolver()


def _loader(runtime: Runtime) -> DeviceLoader:
    settings = runtime.settings
    settings.require(DEVICES, USERS)
    return DeviceLoader(
        runtime.batch("api"),
        runtime.cache,
        devices_table=settings.table_name(DEVICES),
        users_table=settings.table_name(USERS),
        ttl_seconds=settings.cache_ttl_seconds,
    )


@app.get(powertools_route(LIST_DEVICES_ROUTE))
def list_devices(userId: str) -> Response[str]:
    runtime = get_runtime()
    loader = runtime.service("loader", _loader)
    user_id = path_value(userId)
    if caller_id(app, runtime.settings.caller_claim) != user_id:
        raise Forbidden("a caller may only list their own devices", "NotYourList")
    request = parse_page_request(user_id, app.current_event.query_string_parameters)
    return json_response(200, loader.list_devices(request, invocation_deadline(app)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point."""
    return app.resolve(event, context)
