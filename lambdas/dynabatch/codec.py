"""Plain Python <-> DynamoDB JSON text in one walk, with the item's size on the way.

The reference is boto3's ``TypeSerializer``/``TypeDeserializer`` as ``serde`` widens them
(floats accepted losslessly, binary returned as ``bytes``) and botocore's JSON 1.0 body
(``json.dumps`` with ASCII escapes, binary as base64). This module produces the same text
without building the intermediate ``{"S": ...}`` dicts and without botocore's shape walk,
and counts the item's DynamoDB size in the same pass. ``tests/unit/dynabatch/test_codec.py``
proves the output equal to the reference for every supported type.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT, Binary

from .serde import UnstorableValue, number_text

__all__ = [
    "encode_item",
    "decode_item",
    "decode_items",
    "load_body",
    "wire_to_botocore",
    "batch_write_body",
    "write_requests_body",
    "batch_get_body",
]

_quote = encode_basestring_ascii
_b64encode = base64.b64encode
_b64decode = base64.b64decode
_create_decimal = DYNAMODB_CONTEXT.create_decimal
# Below this magnitude an int has at most 38 digits, so the Decimal context cannot round
# or overflow it and str(int) is exactly what TypeSerializer writes.
_INT_LIMIT = 10**38


def _number_size(text: str) -> int:
    # DynamoDB stores numbers as up to 38 significant digits, two digits a byte, plus one.
    digits = text.lstrip("-").split("e")[0].split("E")[0].replace(".", "").strip("0")
    return (len(digits) + 1) // 2 + 1


def _text_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _encode_number(value: Any) -> tuple[str, int]:
    if type(value) is int and -_INT_LIMIT < value < _INT_LIMIT:
        text = str(value)
    else:
        # serde's checks (range, 38 digits, NaN/Infinity) and its errors, exactly.
        text = number_text(value)
    return '"' + text + '"', _number_size(text)


def _encode_binary(value: Any) -> tuple[str, int]:
    if isinstance(value, Binary):
        value = value.value
    return '"' + _b64encode(value).decode("ascii") + '"', len(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal, float))


def _is_binary(value: Any) -> bool:
    return isinstance(value, (bytes, bytearray, Binary))


def _encode_set(values: AbstractSet[Any]) -> tuple[str, int]:
    if not values:
        raise UnstorableValue("an empty set cannot be stored")
    # TypeSerializer's order of tests: all numbers, all strings, all binary.
    if all(_is_number(v) for v in values):
        kind, encode = "NS", _encode_number
    elif all(isinstance(v, str) for v in values):
        kind, encode = "SS", _encode_string
    elif all(_is_binary(v) for v in values):
        kind, encode = "BS", _encode_binary
    else:
        raise TypeError(f'Unsupported type "{type(values)}" for value "{values}"')
    parts = []
    size = 0
    for member in values:
        text, member_size = encode(member)
        parts.append(text)
        size += member_size
    return '{"' + kind + '":[' + ",".join(parts) + "]}", size


def _encode_string(value: str) -> tuple[str, int]:
    return _quote(value), _text_size(value)


def _encode_map(value: Mapping[Any, Any]) -> tuple[str, int]:
    parts = []
    size = 3
    for name, member in value.items():
        if type(name) is not str:
            raise TypeError(f"map keys and attribute names must be str, not {name!r}")
        text, member_size = _encode_value(member)
        parts.append(_quote(name) + ":" + text)
        size += 1 + _text_size(name) + member_size
    return '{"M":{' + ",".join(parts) + "}}", size


#: Attribute name -> (its quoted text and ":", the same opening a value, its size): names
#: repeat across items, so each is quoted and sized once.
_NAMES: dict[str, tuple[str, str, int]] = {}
_MAX_NAMES = 4096  # items with ever-new names must not grow this without bound


def _name_entry(name: Any) -> tuple[str, str, int]:
    if type(name) is not str:
        raise TypeError(f"map keys and attribute names must be str, not {name!r}")
    head = _quote(name) + ":"
    entry = (head, head + '{"', _text_size(name))
    if len(_NAMES) < _MAX_NAMES:
        _NAMES[name] = entry
    return entry


def _encode_value(value: Any) -> tuple[str, int]:
    """One attribute value as DynamoDB JSON text, and its size."""
    kind = type(value)
    # The common leaf types first, by exact type: one dict lookup instead of isinstance chains.
    if kind is str:
        return '{"S":' + _quote(value) + "}", _text_size(value)
    if kind is int or kind is Decimal or kind is float:
        text, size = _encode_number(value)
        return '{"N":' + text + "}", size
    if kind is bool:
        return ('{"BOOL":true}' if value else '{"BOOL":false}'), 1
    if value is None:
        return '{"NULL":true}', 1
    if kind is dict:
        return _encode_map(value)
    if kind is list:
        return _encode_list(value)
    return _encode_other(value)


def _encode_list(values: Sequence[Any]) -> tuple[str, int]:
    parts = []
    size = 3
    for member in values:
        text, member_size = _encode_value(member)
        parts.append(text)
        size += 1 + member_size
    return '{"L":[' + ",".join(parts) + "]}", size


def _encode_other(value: Any) -> tuple[str, int]:
    # Subclasses and the rarer types, in TypeSerializer's order of tests.
    if isinstance(value, bool):
        return ('{"BOOL":true}' if value else '{"BOOL":false}'), 1
    if _is_number(value):
        text, size = _encode_number(value)
        return '{"N":' + text + "}", size
    if isinstance(value, str):
        return '{"S":' + _quote(value) + "}", _text_size(value)
    if _is_binary(value):
        text, size = _encode_binary(value)
        return '{"B":' + text + "}", size
    if isinstance(value, AbstractSet):
        return _encode_set(value)
    if isinstance(value, Mapping):
        return _encode_map(value)
    if isinstance(value, (list, tuple)):
        return _encode_list(value)
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


def encode_item(item: Mapping[str, Any]) -> tuple[str, int]:
    """Encode a plain-Python item (or key) as DynamoDB JSON text, and size it.

    Parameters
    ----------
    item:
        Attribute name to value: str, int, float, Decimal, bytes, bool, None, set, list, dict.

    Returns
    -------
    tuple of (str, int)
        The text ``json.dumps({name: TypeSerializer().serialize(value)})`` gives with compact
        separators (binary as base64, as botocore sends it), and the item's size as
        :func:`dynabatch.serde.item_size` counts it.

    Raises
    ------
    TypeError
        For unsupported types and non-str names, as ``TypeSerializer`` raises.
    dynabatch.serde.UnstorableValue
        For values DynamoDB would reject (NaN, infinity, a number out of range or of more
        than 38 significant digits, an empty set), as :func:`dynabatch.serde.serialize_item`.

    Example
    -------
    >>> encode_item({"deviceId": "d-1", "temp": 21})
    ('{"deviceId":{"S":"d-1"},"temp":{"N":"21"}}', 17)
    """
    parts = []
    size = 0
    names = _NAMES
    for name, value in item.items():
        known = names.get(name)
        if known is None:
            known = _name_entry(name)
        head, opened, name_size = known
        kind = type(value)
        # The two leaf types most items are made of, inline: no call, one f-string.
        if kind is str:
            parts.append(f'{opened}S":{_quote(value)}}}')
            size += name_size + (len(value) if value.isascii() else len(value.encode("utf-8")))
        elif kind is int and -_INT_LIMIT < value < _INT_LIMIT:
            text = str(value)
            parts.append(f'{opened}N":"{text}"}}')
            # An int's significant digits: no point, no exponent, no leading zeros.
            size += name_size + (len(text.lstrip("-").rstrip("0")) + 1) // 2 + 1
        else:
            text, value_size = _encode_value(value)
            parts.append(head + text)
            size += name_size + value_size
    return "{" + ",".join(parts) + "}", size


def _decode_value(value: Mapping[str, Any]) -> Any:
    for kind, data in value.items():
        if kind == "S":
            return data
        if kind == "N":
            return _create_decimal(data)
        if kind == "M":
            return {name: _decode_value(member) for name, member in data.items()}
        if kind == "L":
            return [_decode_value(member) for member in data]
        if kind == "BOOL":
            return data
        if kind == "NULL":
            return None
        if kind == "B":
            return _to_bytes(data)
        if kind == "SS":
            return set(data)
        if kind == "NS":
            return {_create_decimal(n) for n in data}
        if kind == "BS":
            return {_to_bytes(b) for b in data}
        raise TypeError(f"Dynamodb type {kind} is not supported")
    raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")


def _to_bytes(data: Any) -> bytes:
    # Base64 text straight from the JSON body; bytes (or Binary) from botocore's parser.
    if isinstance(data, str):
        return _b64decode(data)
    return bytes(data)


def decode_item(wire: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Convert a DynamoDB-JSON item back to plain Python.

    Parameters
    ----------
    wire:
        An item as ``json.loads`` gives it from a response body (binary as base64 text) or as
        botocore returns it (binary as bytes).

    Returns
    -------
    dict
        What :func:`dynabatch.serde.deserialize_item` returns: numbers as ``Decimal``,
        binary as ``bytes``, sets as ``set``.

    Raises
    ------
    TypeError
        For an empty or unknown DynamoDB type.
    """
    return decode_items((wire,))[0]


def decode_items(wire_items: Iterable[Mapping[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """:func:`decode_item` over many items."""
    # Strings and numbers first, without a call: most attributes are one or the other.
    return [
        {
            name: value["S"]
            if "S" in value
            else _create_decimal(value["N"])
            if "N" in value
            else _decode_value(value)
            for name, value in wire.items()
        }
        for wire in wire_items
    ]


def load_body(body: bytes | str) -> dict[str, Any]:
    """Parse a DynamoDB JSON 1.0 response body once; items stay DynamoDB JSON.

    Binary values stay base64 text: :func:`decode_item` takes them as they are, and
    :func:`wire_to_botocore` turns keys into what botocore's parser would have returned.
    An empty body (some successful responses have none) parses as ``{}``.
    """
    if not body:
        return {}
    parsed = json.loads(body)
    if not isinstance(parsed, dict):
        raise ValueError(f"a DynamoDB response body is a JSON object, not {type(parsed).__name__}")
    return parsed


def _botocore_value(value: Mapping[str, Any]) -> dict[str, Any]:
    for kind, data in value.items():
        if kind == "B":
            return {"B": _to_bytes(data)}
        if kind == "BS":
            return {"BS": [_to_bytes(b) for b in data]}
        if kind == "M":
            return {"M": {name: _botocore_value(member) for name, member in data.items()}}
        if kind == "L":
            return {"L": [_botocore_value(member) for member in data]}
    return dict(value)


def wire_to_botocore(item: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """A DynamoDB-JSON item (or key) from :func:`load_body` as botocore's client returns it.

    The only difference is binary: base64 text in the body, ``bytes`` from botocore. Keys
    handed back for a retry (``UnprocessedKeys``, ``LastEvaluatedKey``) go through this so
    the rest of the layer sees one form whichever path fetched them.
    """
    return {name: _botocore_value(value) for name, value in item.items()}


def batch_write_body(
    requests: Mapping[str, Iterable[tuple[str, str]]],
    return_consumed_capacity: str | None = None,
) -> str:
    """The BatchWriteItem request body from items already encoded.

    Parameters
    ----------
    requests:
        Table name to ``(kind, text)`` pairs: ``kind`` is ``"PutRequest"`` with an item's
        :func:`encode_item` text, or ``"DeleteRequest"`` with a key's.
    return_consumed_capacity:
        ``"TOTAL"``, ``"INDEXES"`` or ``None`` (not asked).

    Raises
    ------
    ValueError
        For a kind other than the two above.
    """
    tables = []
    for table, pairs in requests.items():
        entries = []
        for kind, text in pairs:
            if kind == "PutRequest":
                entries.append('{"PutRequest":{"Item":' + text + "}}")
            elif kind == "DeleteRequest":
                entries.append('{"DeleteRequest":{"Key":' + text + "}}")
            else:
                raise ValueError(f"unknown write request kind {kind!r}")
        tables.append(_quote(table) + ":[" + ",".join(entries) + "]")
    return _with_capacity('{"RequestItems":{' + ",".join(tables) + "}", return_consumed_capacity)


def write_requests_body(
    requests: Mapping[str, Iterable[str]], return_consumed_capacity: str | None = None
) -> str:
    """The BatchWriteItem request body from whole write requests already encoded.

    ``requests`` maps a table name to the texts of its requests, each
    ``{"PutRequest":{"Item":...}}`` or ``{"DeleteRequest":{"Key":...}}`` as
    :func:`encode_item` texts wrapped; see :func:`batch_write_body` for the arguments.
    """
    tables = [_quote(table) + ":[" + ",".join(texts) + "]" for table, texts in requests.items()]
    return _with_capacity('{"RequestItems":{' + ",".join(tables) + "}", return_consumed_capacity)


def batch_get_body(
    keys: Mapping[str, Sequence[str]],
    options: Mapping[str, Mapping[str, Any]] | None = None,
    return_consumed_capacity: str | None = None,
) -> str:
    """The BatchGetItem request body from keys already encoded.

    Parameters
    ----------
    keys:
        Table name to the :func:`encode_item` texts of its keys.
    options:
        Table name to the other members of its ``KeysAndAttributes`` (``ConsistentRead``,
        ``ProjectionExpression``, ``ExpressionAttributeNames``), plain JSON values.
    return_consumed_capacity:
        ``"TOTAL"``, ``"INDEXES"`` or ``None`` (not asked).
    """
    options = options or {}
    tables = []
    for table, texts in keys.items():
        extra = options.get(table)
        head = '{"Keys":[' + ",".join(texts) + "]"
        if extra:
            head += "," + json.dumps(dict(extra), separators=(",", ":"))[1:-1]
        tables.append(_quote(table) + ":" + head + "}")
    return _with_capacity('{"RequestItems":{' + ",".join(tables) + "}", return_consumed_capacity)


def _with_capacity(body: str, return_consumed_capacity: str | None) -> str:
    if return_consumed_capacity is None:
        return body + "}"
    return body + ',"ReturnConsumedCapacity":' + _quote(return_consumed_capacity) + "}"
