"""Ownership transfer: one TransactWriteItems that keeps owners' sets and devices exact.

The transaction (all or nothing):

0. devices[deviceId]: ``SET ownerId = :to`` if ``ownerId = :from``;
1. users[fromUserId]: ``DELETE devices {deviceId}`` if the set contains it;
2. users[toUserId]: ``ADD devices {deviceId}`` if the user exists.

Of two concurrent transfers of one device exactly one commits; the other fails its
conditions (or conflicts) and is answered 409. DynamoDB returns the items whose condition
failed, which tells "missing" (404) from "owned by someone else" (409).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr
from dynabatch import BatchClient, TransactionCancelledError, TransactUpdate

from .cache import DeviceCache
from .errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge

__all__ = ["TransferRequest", "TransferService", "parse_transfer", "MAX_BODY_BYTES"]

#: A transfer body is two ids; anything near this size is not a transfer.
MAX_BODY_BYTES = 16 * 1024
MAX_ID_LENGTH = 256
# Ids are opaque, but never empty, never whitespace or control characters. Applied with
# fullmatch: "$" would also match before a trailing newline.
_ID = re.compile(rf"[^\s\x00-\x1f\x7f]{{1,{MAX_ID_LENGTH}}}")
_FIELDS = ("fromUserId", "toUserId")

_DEVICE, _FROM, _TO = 0, 1, 2


@dataclass(frozen=True)
class TransferRequest:
    """A validated ``POST /devices/{deviceId}/transfer``."""

    device_id: str
    from_user_id: str
    to_user_id: str

    def payload(self) -> dict[str, str]:
        """What identifies the request's content (for idempotency validation)."""
        return {
            "deviceId": self.device_id,
            "fromUserId": self.from_user_id,
            "toUserId": self.to_user_id,
        }


def _check_id(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{what} must be a string", "InvalidField")
    if not _ID.fullmatch(value):
        raise BadRequest(
            f"{what} must be 1 to {MAX_ID_LENGTH} characters without spaces", "InvalidField"
        )
    return value


def parse_transfer(device_id: str, body: str | bytes | None) -> TransferRequest:
    """Validate the path's deviceId and the JSON body.

    Raises
    ------
    PayloadTooLarge
        The body is over :data:`MAX_BODY_BYTES`.
    BadRequest
        ``InvalidJson``, ``InvalidBody``, ``MissingField``, ``UnknownField``,
        ``InvalidField`` or ``SameOwner`` (``fromUserId == toUserId``).
    """
    device_id = _check_id(device_id, "deviceId")
    raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is over {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        raise BadRequest("a JSON body with fromUserId and toUserId is required", "InvalidBody")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON", "InvalidJson") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", "InvalidBody")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)}", "UnknownField")
    for name in _FIELDS:
        if name not in data:
            raise BadRequest(f"{name} is required", "MissingField")
    request = TransferRequest(
        device_id,
        _check_id(data["fromUserId"], "fromUserId"),
        _check_id(data["toUserId"], "toUserId"),
    )
    if request.from_user_id == request.to_user_id:
        raise BadRequest("fromUserId and toUserId are the same user", "SameOwner")
    return request


def authorize(request: TransferRequest, caller: str) -> None:
    """Only the current owner may give a device away.

    Raises
    ------
    Forbidden
        ``NotYourDevice``: the caller is not ``fromUserId``.
    """
    if caller != request.from_user_id:
        raise Forbidden("only fromUserId may transfer the device", "NotYourDevice")


class TransferService:
    """Moves devices between owners.

    Parameters
    ----------
    batch:
        The batch layer client (``transact_write``).
    cache:
        The device cache, from which a moved device is dropped.
    devices_table, users_table:
        Deployed table names.
    """

    def __init__(
        self, batch: BatchClient, cache: DeviceCache, *, devices_table: str, users_table: str
    ) -> None:
        self.batch = batch
        self.cache = cache
        self.devices_table = devices_table
        self.users_table = users_table

    def actions(self, request: TransferRequest) -> list[TransactUpdate]:
        """The three updates of the transaction, in the order documented above."""
        moved = {request.device_id}
        return [
            TransactUpdate(
                self.devices_table,
                key={"deviceId": request.device_id},
                update="SET ownerId = :to",
                condition=Attr("ownerId").eq(request.from_user_id),
                values={":to": request.to_user_id},
            ),
            TransactUpdate(
                self.users_table,
                key={"userId": request.from_user_id},
                update="DELETE #devices :moved",
                condition=Attr("devices").contains(request.device_id),
                names={"#devices": "devices"},
                values={":moved": moved},
            ),
            TransactUpdate(
                self.users_table,
                key={"userId": request.to_user_id},
                update="ADD #devices :moved",
                condition=Attr("userId").exists(),
                names={"#devices": "devices"},
                values={":moved": moved},
            ),
        ]

    def transfer(self, request: TransferRequest, token: str | None = None) -> dict[str, str]:
        """Run the transfer; the 200 body on success.

        Parameters
        ----------
        token:
            ``ClientRequestToken`` for DynamoDB's own 10-minute idempotency.

        Raises
        ------
        NotFound
            ``DeviceNotFound`` / ``UserNotFound``.
        Conflict
            ``NotOwner`` (the device is not fromUserId's) or ``TransferConflict`` (another
            write to the same items won the race).
        """
        try:
            self.batch.transact_write(self.actions(request), client_request_token=token)
        except TransactionCancelledError as error:
            raise _explain(request, error) from error
        self.cache.delete_many([request.device_id])
        return {
            "deviceId": request.device_id,
            "ownerId": request.to_user_id,
            "previousOwnerId": request.from_user_id,
        }


def _explain(request: TransferRequest, error: TransactionCancelledError) -> Exception:
    """The domain error a cancelled transfer stands for; 404s win over 409s."""
    if error.throttled:
        return error  # the HTTP glue answers 503 for it
    failed = {r.index: r for r in error.reasons if r.code == "ConditionalCheckFailed"}
    device = failed.get(_DEVICE)
    if device is not None and device.item is None:
        return NotFound(f"device {request.device_id!r} does not exist", "DeviceNotFound")
    sender = failed.get(_FROM)
    if sender is not None and sender.item is None:
        return NotFound(f"user {request.from_user_id!r} does not exist", "UserNotFound")
    if _TO in failed:
        return NotFound(f"user {request.to_user_id!r} does not exist", "UserNotFound")
    if device is not None or sender is not None:
        return Conflict(
            f"device {request.device_id!r} is not owned by {request.from_user_id!r}", "NotOwner"
        )
    return Conflict(
        "a concurrent change to this device or its owners won; read it again and retry",
        "TransferConflict",
    )
