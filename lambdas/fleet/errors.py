"""Typed domain errors, and the one place where errors become HTTP answers.

Services raise these; the HTTP glue turns any of them into
``{"error": {"code": ..., "message": ...}}`` with the status below. Batch-layer errors
that mean "DynamoDB is throttling us and the retry budget is spent" become 503 with
``Retry-After``; nothing else from a dependency reaches a caller as a stack trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "FleetError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "PayloadTooLarge",
    "Unprocessable",
    "ServiceUnavailable",
    "InvalidEvent",
    "as_fleet_error",
    "error_body",
    "RETRY_AFTER_SECONDS",
]

#: What a 503 asks the client to wait; the batch layer already spent its own backoff.
RETRY_AFTER_SECONDS = 1


class FleetError(Exception):
    """Base of the domain errors: an HTTP status, a stable machine code and a message."""

    status = 500
    default_code = "InternalError"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code

    @property
    def headers(self) -> Mapping[str, str]:
        """Extra response headers this error needs."""
        return {}


class BadRequest(FleetError):
    """400: a malformed parameter or body; ``code`` says which rule it broke."""

    status = 400
    default_code = "BadRequest"


class Unauthorized(FleetError):
    """401: no caller identity on the request."""

    status = 401
    default_code = "Unauthorized"


class Forbidden(FleetError):
    """403: the caller may not act on this resource."""

    status = 403
    default_code = "Forbidden"


class NotFound(FleetError):
    """404: an unknown user (``UserNotFound``), told only to whom it may concern."""

    status = 404
    default_code = "NotFound"


class Conflict(FleetError):
    """409: not the owner, a full receiver, or a concurrent transfer won."""

    status = 409
    default_code = "Conflict"


class PayloadTooLarge(FleetError):
    """413: the body is over the route's limit."""

    status = 413
    default_code = "PayloadTooLarge"


class Unprocessable(FleetError):
    """422: well-formed, but refused, e.g. an ``Idempotency-Key`` reused with another body."""

    status = 422
    default_code = "Unprocessable"


class ServiceUnavailable(FleetError):
    """503: DynamoDB kept throttling past the retry budget; try again after ``Retry-After``."""

    status = 503
    default_code = "Throttled"

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}


class InvalidEvent(ValueError):
    """A scheduled function was invoked with an event it cannot read (raised, not answered)."""


def as_fleet_error(error: BaseException) -> FleetError | None:
    """The domain error a batch-layer error stands for, or ``None`` if it is a real bug.

    Throttling, and keys/items left unprocessed when the retry budget or the invocation's
    deadline ran out, mean "DynamoDB is overloaded right now": the request did nothing
    harmful and can be retried. Keys or items DynamoDB refused for their content are not
    retryable: that is a bug (the API validates its input first), so it stays a 500.
    """
    from dynabatch import (
        DeadlineExceededError,
        ThrottledError,
        TransactionCancelledError,
        UnprocessedItemsError,
        UnprocessedKeysError,
    )

    if isinstance(error, FleetError):
        return error
    if isinstance(error, (UnprocessedKeysError, UnprocessedItemsError)):
        if all(failure.retryable for failure in error.result.failures):
            return ServiceUnavailable("DynamoDB is throttling requests; retry later")
        return None
    if isinstance(error, (ThrottledError, DeadlineExceededError)):
        return ServiceUnavailable("DynamoDB is throttling requests; retry later")
    if isinstance(error, TransactionCancelledError) and error.throttled:
        return ServiceUnavailable("DynamoDB is throttling requests; retry later")
    return None


def error_body(error: FleetError) -> dict[str, Any]:
    """The JSON body every error answer has."""
    return {"error": {"code": error.code, "message": error.message}}
