"""Replays of the transfer for a repeated ``Idempotency-Key``, through Powertools.

The idempotency record's key is the caller plus the header's value; the request's
content (deviceId, fromUserId, toUserId) is the *validation* payload. So a retry with the
same key and body gets the first answer back (for 24 hours, on the idempotency table),
while the same key with another body is refused (422 ``IdempotencyKeyReused``) instead of
silently replaying an answer to a different question. Failed transfers are not recorded:
Powertools deletes the record when the function raises, so a 404/409 is answered afresh.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from .errors import BadRequest, Conflict, Unprocessable
from .transfer import TransferRequest, TransferService

__all__ = ["IdempotentTransfers", "check_key", "IDEMPOTENCY_TTL_SECONDS", "MAX_KEY_LENGTH"]

#: How long a result is replayed; DynamoDB's own ClientRequestToken covers 10 minutes only.
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 256
_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")  # fullmatch: "$" passes "key\n"
_TOKEN_NAMESPACE = uuid.UUID("5a0d4c4e-3b7e-4f0c-9d43-6c1f0f7e2a11")


def check_key(key: str) -> str:
    """Validate an ``Idempotency-Key`` header value.

    Raises
    ------
    BadRequest
        ``InvalidIdempotencyKey``: empty, too long, or not printable ASCII.
    """
    if not _KEY.fullmatch(key):
        raise BadRequest(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            "InvalidIdempotencyKey",
        )
    return key


def request_token(caller: str, key: str, request: TransferRequest) -> str:
    """A ClientRequestToken (max 36 chars) derived from the request: retries reuse it."""
    digest = hashlib.sha256(repr((caller, key, sorted(request.payload().items()))).encode())
    return str(uuid.uuid5(_TOKEN_NAMESPACE, digest.hexdigest()))


class IdempotentTransfers:
    """A :class:`TransferService` whose results are replayed per ``Idempotency-Key``.

    Parameters
    ----------
    service:
        What runs the transfer the first time.
    table_name:
        The idempotency table (partition key ``id``, TTL on ``expiration``).
    client:
        The boto3 DynamoDB client Powertools' persistence layer uses.
    """

    def __init__(self, service: TransferService, table_name: str, client: Any) -> None:
        self.service = service
        self.config = IdempotencyConfig(
            event_key_jmespath="[caller, key]",
            payload_validation_jmespath="request",
            expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
            raise_on_no_idempotency_key=True,
        )
        persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)

        def run(call: dict[str, Any]) -> dict[str, str]:
            request = TransferRequest(
                call["request"]["deviceId"],
                call["request"]["fromUserId"],
                call["request"]["toUserId"],
            )
            return service.transfer(
                request, token=call["token"], deadline_at=call.get("deadline_at")
            )

        self._run = cast(
            Callable[..., dict[str, str]],
            idempotent_function(
                data_keyword_argument="call", config=self.config, persistence_store=persistence
            )(run),
        )

    def transfer(
        self,
        request: TransferRequest,
        *,
        caller: str,
        key: str | None,
        context: LambdaContext | None = None,
        deadline_at: float | None = None,
    ) -> dict[str, str]:
        """Run ``request`` once per (caller, key); without a key, just run it.

        ``deadline_at`` (monotonic) bounds the transaction's retries; it is not part of
        what identifies or validates the request.

        Raises
        ------
        Unprocessable
            ``IdempotencyKeyReused``: the key was used with another request.
        Conflict
            ``RequestInProgress``: the first request with this key is still running.
        """
        if key is None:
            return self.service.transfer(request, deadline_at=deadline_at)
        if context is not None:
            # Lets Powertools expire an in-progress record if this invocation times out.
            self.config.register_lambda_context(context)
        call = {
            "caller": caller,
            "key": key,
            "request": request.payload(),
            "token": request_token(caller, key, request),
            "deadline_at": deadline_at,
        }
        try:
            result: dict[str, str] = self._run(call=call)
        except IdempotencyValidationError:
            raise Unprocessable(
                "this Idempotency-Key was already used with a different request",
                "IdempotencyKeyReused",
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise Conflict(
                "a request with this Idempotency-Key is still in progress; retry shortly",
                "RequestInProgress",
            ) from None
        return result
