"""HTTP glue shared by the two API functions: the resolver, caller identity, errors.

Every answer that is not a 2xx has the body ``{"error": {"code", "message"}}``: domain
errors with their own status, batch-layer throttling as 503 + ``Retry-After``, unknown
routes as 404, and anything unexpected as a logged 500 that shows no stack trace.
"""

from __future__ import annotations

import base64
import binascii
import json
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from .errors import BadRequest, FleetError, NotFound, Unauthorized, as_fleet_error, error_body
from .observability import logger, metrics

__all__ = [
    "make_resolver",
    "caller_id",
    "json_response",
    "path_value",
    "body_bytes",
    "invocation_deadline",
    "DEADLINE_MARGIN_SECONDS",
]

#: Time kept back from the invocation's timeout to shape an answer (a 503 rather than
#: Lambda cutting the invocation off, which API Gateway turns into an opaque 500/504).
DEADLINE_MARGIN_SECONDS = 1.0


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    """A JSON response with ``status``."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":"), default=_json_default),
        headers=headers,
    )


def _json_default(value: Any) -> Any:
    # Device items come from DynamoDB: numbers are Decimal, sets are sets.
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        # A number a double cannot hold exactly goes out as a string rather than altered.
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _error_response(error: FleetError) -> Response[str]:
    metrics.add_metric(f"Http{error.status}", "Count", 1)
    return json_response(error.status, error_body(error), dict(error.headers))


def _domain_error(error: FleetError) -> Response[str]:
    logger.info("request refused", extra={"code": error.code, "status": error.status})
    return _error_response(error)


def _unknown_route(_: NotFoundError) -> Response[str]:
    return _error_response(NotFound("no such route", "RouteNotFound"))


def _unexpected(error: Exception) -> Response[str]:
    mapped = as_fleet_error(error)
    if mapped is not None:
        logger.warning("request failed: %s", error)
        return _error_response(mapped)
    logger.exception("unexpected error")
    return _error_response(FleetError("internal error", "InternalError"))


def make_resolver() -> APIGatewayHttpResolver:
    """An HTTP API (payload 2.0) resolver whose every error is the project's JSON error."""
    app = APIGatewayHttpResolver()
    app.exception_handler(FleetError)(_domain_error)
    app.not_found(_unknown_route)
    app.exception_handler(Exception)(_unexpected)
    return app


def invocation_deadline(app: APIGatewayHttpResolver) -> float | None:
    """The batch layer's ``deadline_at`` for this invocation: its remaining time less
    :data:`DEADLINE_MARGIN_SECONDS`; ``None`` when there is no Lambda context."""
    from dynabatch import deadline_from_context

    context = getattr(app, "lambda_context", None)
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return None
    return deadline_from_context(context, DEADLINE_MARGIN_SECONDS)


def caller_id(app: APIGatewayHttpResolver, claim: str) -> str:
    """The caller's userId: the JWT authorizer's ``claim``.

    Deployed, API Gateway's JWT authorizer fills the claims; locally the development server
    puts its development identity in the same place. Nothing else is trusted.

    Raises
    ------
    Unauthorized
        No authorizer claims, or no such claim.
    """
    context = app.current_event.raw_event.get("requestContext") or {}
    authorizer = context.get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    value = claims.get(claim)
    if not isinstance(value, str) or not value:
        raise Unauthorized(f"the request carries no {claim!r} claim of a signed-in caller")
    return value


def body_bytes(app: APIGatewayHttpResolver) -> bytes:
    """The request body as bytes, base64-decoded when API Gateway encoded it.

    Raises
    ------
    BadRequest
        ``InvalidBody``: the body claims to be base64 and is not.
    """
    event = app.current_event
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("the body is not valid base64", "InvalidBody") from None


def path_value(value: str) -> str:
    """A path parameter as the client meant it (the route sees the raw, encoded path)."""
    return unquote(value)
