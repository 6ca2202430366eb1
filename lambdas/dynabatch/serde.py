"""Plain Python <-> DynamoDB JSON, item sizes and key identity.

Conversion is boto3's own TypeSerializer/TypeDeserializer; the two subclasses only widen
what they accept (floats) and narrow what they return (bytes instead of ``Binary``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

__all__ = [
    "AttributeValue",
    "serialize_item",
    "deserialize_item",
    "item_size",
    "key_identity",
    "key_of",
]

#: One DynamoDB-JSON value, e.g. ``{"S": "abc"}``.
AttributeValue = dict[str, Any]


class _Serializer(TypeSerializer):  # type: ignore[misc]
    """boto3's serializer, also taking floats.

    boto3 refuses floats because ``Decimal(0.1)`` is 0.1000000000000000055...; going through
    ``repr`` gives the shortest decimal that round-trips to the same float, so ``0.1`` is
    stored as ``0.1``: what the caller wrote, with no precision lost.
    """

    def _is_number(self, value: Any) -> bool:
        # boto3's own test, floats added; written out rather than calling super() because
        # it runs for every value serialized.
        return isinstance(value, (int, Decimal, float))

    def _serialize_n(self, value: Any) -> str:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise TypeError(f"Infinity and NaN are not supported: {value!r}")
            value = Decimal(repr(value))
        return str(super()._serialize_n(value))


class _Deserializer(TypeDeserializer):  # type: ignore[misc]
    """boto3's deserializer returning plain ``bytes`` for binary values."""

    def _deserialize_b(self, value: Any) -> bytes:
        return bytes(value)

    def _deserialize_bs(self, value: Any) -> set[bytes]:
        return {bytes(v) for v in value}


_SERIALIZER = _Serializer()
_DESERIALIZER = _Deserializer()


def serialize_item(item: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """Convert a plain-Python item (or key) to DynamoDB JSON.

    Parameters
    ----------
    item:
        Attribute name to value: str, int, float, Decimal, bytes, bool, None, set, list, dict.

    Returns
    -------
    dict
        The same item as ``{"name": {"S": "..."}, ...}``.

    Raises
    ------
    TypeError
        For values DynamoDB cannot store (NaN, infinity, unsupported types).
    """
    serialize = _SERIALIZER.serialize
    return {name: serialize(value) for name, value in item.items()}


def deserialize_item(item: Mapping[str, AttributeValue]) -> dict[str, Any]:
    """Convert a DynamoDB-JSON item back to plain Python (numbers as ``Decimal``)."""
    deserialize = _DESERIALIZER.deserialize
    return {name: deserialize(value) for name, value in item.items()}


def _number_size(text: str) -> int:
    # DynamoDB stores numbers as up to 38 significant digits, two digits a byte, plus one.
    digits = text.lstrip("-").split("e")[0].split("E")[0].replace(".", "").strip("0")
    return (len(digits) + 1) // 2 + 1


def _value_size(value: AttributeValue) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data) if data.isascii() else len(data.encode("utf-8"))
    if kind == "N":
        return _number_size(data)
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in data)
    if kind == "NS":
        return sum(_number_size(n) for n in data)
    if kind == "BS":
        return sum(len(b) for b in data)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + _value_size(v) for k, v in data.items())
    raise TypeError(f"unknown DynamoDB type {kind!r}")


def item_size(item: Mapping[str, AttributeValue]) -> int:
    """The size of a DynamoDB-JSON item as DynamoDB counts it against the 400 KB limit.

    Attribute names in UTF-8, plus each value: strings in UTF-8, binary as raw bytes,
    numbers at one byte per two significant digits plus one, and 3 bytes plus one per
    element for lists and maps. This follows DynamoDB's published sizing rules.
    """
    return sum(
        (len(name) if name.isascii() else len(name.encode("utf-8"))) + _value_size(value)
        for name, value in item.items()
    )


def _hashable(value: AttributeValue) -> Any:
    ((kind, data),) = value.items()
    if kind == "N":
        # 1, 1.0 and 1E0 are the same number and so the same key to DynamoDB.
        return ("N", Decimal(data))
    if kind == "B":
        return ("B", bytes(data))
    return (kind, data)


def key_identity(key: Mapping[str, AttributeValue]) -> tuple[Any, ...]:
    """A hashable identity of a DynamoDB-JSON key: equal keys, equal identities."""
    if len(key) == 1:
        ((name, value),) = key.items()
        return (name, _hashable(value))
    return tuple(sorted((name, _hashable(value)) for name, value in key.items()))


def key_of(
    item: Mapping[str, AttributeValue], key_names: tuple[str, ...]
) -> dict[str, AttributeValue]:
    """The key attributes of a DynamoDB-JSON item.

    Raises
    ------
    ValueError
        When the item lacks one of the key attributes.
    """
    try:
        return {name: item[name] for name in key_names}
    except KeyError as missing:
        raise ValueError(f"item lacks key attribute {missing.args[0]!r}") from None
