"""Ownership transfer: one TransactWriteItems that keeps owners' sets and devices exact.

The transaction (all or nothing):

0. devices[deviceId]: ``SET ownerId = :to`` if ``ownerId = :from``;
1. users[fromUserId]: ``DELETE devices {deviceId}`` if the set contains it;
2. users[toUserId]: ``ADD devices {deviceId}`` if the user exists and owns fewer than
   :data:`MAX_DEVICES_PER_USER` devices.

Of two concurrent transfers of one device exactly one commits; the other fails its
conditions (or conflicts) and is answered 409. What a failed transfer tells its caller
depends on whether the caller owns the device: someone who does not learns only 409
``NotOwner``, whether the device exists or not and whoever the receiver is, so transfers
cannot be used to find out which devices and users exist. The owner learns why (404
``UserNotFound`` for an unknown receiver, 409 ``DeviceLimitReached`` for a full one).
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

__all__ = [
    "TransferRequest",
    "TransferService",
    "parse_transfer",
    "MAX_BODY_BYTES",
    "MAX_ID_LENGTH",
    "MAX_DEVICES_PER_USER",
]

#: A transfer body is two ids; anything near this size is not a transfer.
MAX_BODY_BYTES = 16 * 1024
MAX_ID_LENGTH = 256
# Ids are opaque, but never empty, never whitespace or control characters. Applied with
# fullmatch: "$" would also match before a trailing newline.
_ID = re.compile(rf"[^\s\x00-\x1f\x7f]{{1,{MAX_ID_LENGTH}}}")
_FIELDS = ("fromUserId", "toUserId")

#: DynamoDB's item size limit; a user's ``devices`` set lives in its one users item.
ITEM_SIZE_LIMIT = 400 * 1024
#: An id is at most MAX_ID_LENGTH characters of at most 4 UTF-8 bytes each; DynamoDB counts
#: a string set as the UTF-8 bytes of its members, and one more byte each is counted here
#: so the bound holds whatever DynamoDB adds per member.
_WORST_CASE_MEMBER_BYTES = 4 * MAX_ID_LENGTH + 1
#: Left for the rest of the users item: its key (at most 1,030 bytes), ``name``, ``email``
#: and the attribute name ``devices``.
USER_ITEM_RESERVE = 16 * 1024
#: The most devices a user may own: the most worst-case ids (256 characters, 4 bytes each)
#: that fit in one item beside the reserve, (409,600 - 16,384) // 1,025 = 383. A transfer
#: to a user who owns this many is refused (409 ``DeviceLimitReached``).
MAX_DEVICES_PER_USER = (ITEM_SIZE_LIMIT - USER_ITEM_RESERVE) // _WORST_CASE_MEMBER_BYTES

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
                condition=Attr("userId").exists()
                & (Attr("devices").not_exists() | Attr("devices").size().lt(MAX_DEVICES_PER_USER)),
                names={"#devices": "devices"},
                values={":moved": moved},
            ),
        ]

    def transfer(
        self,
        request: TransferRequest,
        token: str | None = None,
        deadline_at: float | None = None,
    ) -> dict[str, str]:
        """Run the transfer; the 200 body on success.

        Parameters
        ----------
        token:
            ``ClientRequestToken`` for DynamoDB's own 10-minute idempotency.
        deadline_at:
            The invocation's time limit (monotonic): no retry starts after it.

        Raises
        ------
        Conflict
            ``NotOwner``: the device is not fromUserId's (or does not exist, or fromUserId
            does not: a non-owner is not told which). For the owner: ``DeviceLimitReached``
            (toUserId owns :data:`MAX_DEVICES_PER_USER` devices) or ``TransferConflict``
            (another write to the same items won the race).
        NotFound
            ``UserNotFound``: toUserId does not exist (said to the device's owner only).
        """
        try:
            self.batch.transact_write(
                self.actions(request), client_request_token=token, deadline_at=deadline_at
            )
        except TransactionCancelledError as error:
            raise _explain(request, error) from error
        self.cache.delete_many([request.device_id])
        return {
            "deviceId": request.device_id,
            "ownerId": request.to_user_id,
            "previousOwnerId": request.from_user_id,
        }


def _explain(request: TransferRequest, error: TransactionCancelledError) -> Exception:
    """The domain error a cancelled transfer stands for.

    Ownership is decided first and alone: whenever the device or the sender's set failed
    its condition, the answer is ``NotOwner`` with the same message, so a caller who does
    not own the device cannot tell a missing device, a missing sender, someone else's
    device or a missing receiver apart.
    """
    if error.throttled:
        return error  # the HTTP glue answers 503 for it
    failed = {r.index: r for r in error.reasons if r.code == "ConditionalCheckFailed"}
    if _DEVICE in failed or _FROM in failed:
        return Conflict(
            f"device {request.device_id!r} is not owned by {request.from_user_id!r}", "NotOwner"
        )
    receiver = failed.get(_TO)
    if receiver is not None and receiver.item is None:
        return NotFound(f"user {request.to_user_id!r} does not exist", "UserNotFound")
    if receiver is not None:
        return Conflict(
            f"user {request.to_user_id!r} already owns {MAX_DEVICES_PER_USER} devices, the most"
            " a user may own; they must give one away first",
            "DeviceLimitReached",
        )
    return Conflict(
        "a concurrent change to this device or its owners won; read it again and retry",
        "TransferConflict",
    )
