"""Plain JSON / CSV values <-> the batch layer's plain-Python items, per table.

JSON and CSV have no sets, no binary and no exact decimals, so the plain formats follow a
few rules, the same for import and export:

- numbers are read as ``int`` / ``Decimal`` (never ``float``), so nothing is rounded;
- attributes named in :data:`TYPE_HINTS` get their DynamoDB type back (``users.devices``
  is a string set, ``sessions.expiresAt`` a number), so an export re-imports as it was;
- anything the plain formats cannot carry exactly (binary, other sets, numbers with more
  digits than a JSON float keeps) is refused with a message pointing at ``--dynamodb-json``,
  the lossless form (``{"Item": {...DynamoDB JSON...}}``, the shape of DynamoDB's own
  export to S3).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from dynabatch import deserialize_item, serialize_item

__all__ = [
    "TYPE_HINTS",
    "ValueProblem",
    "item_from_record",
    "record_from_item",
    "coerce",
    "cell_text",
]

#: Attributes whose DynamoDB type a plain format cannot show, per logical table.
TYPE_HINTS: dict[str, dict[str, str]] = {
    "devices": {},
    "users": {"devices": "SS"},
    "sessions": {"expiresAt": "N"},
    "idempotency": {"expiration": "N"},
}

_TYPES = ("S", "N", "BOOL", "SS", "NS", "L", "M", "JSON")


class ValueProblem(ValueError):
    """A record or value that cannot become an item (the message says why)."""


def is_dynamodb_json(record: Mapping[str, Any]) -> bool:
    """True for ``{"Item": {"attr": {"S": "..."}, ...}}``, the lossless record form."""
    if set(record) != {"Item"} or not isinstance(record["Item"], dict):
        return False
    return all(isinstance(v, dict) and len(v) == 1 for v in record["Item"].values())


def item_from_record(record: Any, table: str) -> dict[str, Any]:
    """A parsed JSON record (plain or ``{"Item": ...}`` DynamoDB JSON) as a plain item."""
    if not isinstance(record, dict):
        raise ValueProblem(f"expected a JSON object, got {type(record).__name__}")
    if is_dynamodb_json(record):
        try:
            return deserialize_item(wire_from_json(record["Item"]))
        except (TypeError, ValueError, KeyError, InvalidOperation) as error:
            raise ValueProblem(f"not valid DynamoDB JSON: {error}") from None
    hints = TYPE_HINTS.get(table, {})
    item: dict[str, Any] = {}
    for name, value in record.items():
        kind = hints.get(name)
        converted = coerce(value, kind, name) if kind else value
        if converted is not None or kind is None:
            item[name] = converted
    return item


def coerce(value: Any, kind: str | None, name: str) -> Any:
    """``value`` as DynamoDB type ``kind``; ``None`` drops the attribute (empty set)."""
    if kind is None or value is None:
        return value
    if kind in ("SS", "NS"):
        if not isinstance(value, (list, set)):
            raise ValueProblem(f"attribute {name!r}: expected a list for a {kind} set")
        members = {_number(v, name) if kind == "NS" else v for v in value}
        if kind == "SS" and not all(isinstance(v, str) for v in members):
            raise ValueProblem(f"attribute {name!r}: a string set holds strings only")
        return members or None  # DynamoDB has no empty sets: no devices = no attribute
    if kind == "N":
        return _number(value, name)
    if kind == "BOOL":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise ValueProblem(f"attribute {name!r}: {value!r} is not true or false")
    return value


def _number(value: Any, name: str) -> int | Decimal:
    if isinstance(value, bool):
        raise ValueProblem(f"attribute {name!r}: {value!r} is not a number")
    if isinstance(value, (int, Decimal)):
        return value
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueProblem(f"attribute {name!r}: {value!r} is not a number") from None
    if not number.is_finite():
        raise ValueProblem(f"attribute {name!r}: {value!r} is not a finite number")
    # "17" is an int; "1.5E+125" stays a Decimal: as an int it would have 126 digits,
    # which the serializer refuses although DynamoDB holds it (2 significant digits).
    return int(number) if number.as_tuple().exponent == 0 else number


def record_from_item(item: Mapping[str, Any], dynamodb_json: bool) -> Any:
    """What one exported record holds: the plain JSON value, or ``{"Item": ...}``."""
    if dynamodb_json:
        return {"Item": wire_to_json(serialize_item(item))}
    return {name: _plain(value, name) for name, value in item.items()}


def wire_from_json(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB JSON as files hold it (binary as base64, like the AWS CLI) -> wire form."""
    return {name: _binary(value, decode=True) for name, value in item.items()}


def wire_to_json(item: Mapping[str, Any]) -> dict[str, Any]:
    """Wire-form DynamoDB JSON -> what a file holds (binary as base64 text)."""
    return {name: _binary(value, decode=False) for name, value in item.items()}


def _binary(value: Any, decode: bool) -> Any:
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueProblem(f"not a DynamoDB JSON value: {value!r}")
    ((kind, data),) = value.items()
    convert = _from_base64 if decode else _to_base64
    if kind == "B":
        return {"B": convert(data)}
    if kind == "BS":
        return {"BS": [convert(v) for v in data]}
    if kind == "L":
        return {"L": [_binary(v, decode) for v in data]}
    if kind == "M":
        return {"M": {k: _binary(v, decode) for k, v in data.items()}}
    return value


def _from_base64(data: Any) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise ValueProblem(f"binary value {data!r} is not base64") from None


def _to_base64(data: Any) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def _plain(value: Any, name: str) -> Any:
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        if Decimal(repr(as_float)) != value:
            raise ValueProblem(
                f"attribute {name!r}: {value} has more digits than plain JSON keeps; "
                "export with --dynamodb-json"
            )
        return as_float
    if isinstance(value, (set, frozenset)):
        members = [_plain(v, name) for v in value]
        if any(isinstance(m, (bytes, bytearray)) for m in value):
            raise ValueProblem(f"attribute {name!r}: binary set; export with --dynamodb-json")
        return sorted(members, key=lambda m: (isinstance(m, str), m))
    if isinstance(value, (bytes, bytearray)):
        raise ValueProblem(f"attribute {name!r}: binary value; export with --dynamodb-json")
    if isinstance(value, list):
        return [_plain(v, name) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v, name) for k, v in value.items()}
    return value


def parse_column(spec: str) -> tuple[str, str | None]:
    """``"expiresAt:N"`` -> ``("expiresAt", "N")``; a bare name has no type."""
    name, _, suffix = spec.partition(":")
    if not name:
        raise ValueProblem(f"empty column name in {spec!r}")
    kind = suffix.upper() or None
    if kind is not None and kind not in _TYPES:
        raise ValueProblem(f"column {spec!r}: type must be one of {', '.join(_TYPES)}")
    return name, kind


def cell_value(text: str, kind: str | None, name: str) -> Any:
    """One CSV cell as an attribute value; structured types are JSON in the cell."""
    if kind in (None, "S"):
        return text
    if kind in ("N", "BOOL"):
        return coerce(text, kind, name)
    try:
        parsed = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise ValueProblem(f"column {name!r}: not valid JSON for {kind}: {error.msg}") from None
    return coerce(parsed, kind, name) if kind in ("SS", "NS") else parsed


def cell_text(value: Any, name: str) -> str:
    """One attribute value as CSV cell text (the inverse of :func:`cell_value`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, Decimal)):
        return str(value)  # the Decimal's own text: exact, however many digits
    plain = _plain(value, name)
    return json.dumps(plain, separators=(",", ":"), ensure_ascii=False)
