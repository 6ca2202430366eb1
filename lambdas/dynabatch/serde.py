"""Plain Python <-> DynamoDB JSON, item sizes and key identity.

Conversion is boto3's own TypeSerializer/TypeDeserializer; the two subclasses only widen
what they accept (floats) and narrow what they return (bytes instead of ``Binary``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Literal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

__all__ = [
    "AttributeValue",
    "serialize_item",
    "deserialize_item",
    "item_size",
    "key_identity",
    "key_of",
    "NumberMode",
    "deserializer",
    "UnstorableValue",
]

#: How reads return numbers: ``"decimal"`` (exact, boto3's way), ``"int"`` (``int`` where
#: integral, ``Decimal`` otherwise) or ``"float"`` (``int`` where integral, ``float``
#: otherwise; may round).
NumberMode = Literal["decimal", "int", "float"]

#: DynamoDB keeps at most 38 significant digits of a number.
MAX_NUMBER_DIGITS = 38
#: Adjusted exponents DynamoDB accepts: 1E-130 up to 9.99...E+125 (either sign).
MIN_NUMBER_EXPONENT = -130
MAX_NUMBER_EXPONENT = 125
_SMALL_INT = 10**MAX_NUMBER_DIGITS


class UnstorableValue(ValueError):
    """A value DynamoDB would reject; the message says why (the caller adds where)."""


def number_text(value: int | float | Decimal) -> str:
    """The DynamoDB ``N`` text of a number, or :class:`UnstorableValue` saying why not.

    An int, a float and a Decimal of the same value give the same verdict: ``10**38`` and
    ``1e38`` are both one significant digit and both stored.
    """
    if type(value) is int and -_SMALL_INT < value < _SMALL_INT:
        return str(value)  # the common case: at most 38 digits, in range
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnstorableValue(f"{value!r} cannot be stored: NaN and Infinity are not numbers")
        number = Decimal(repr(value))
    else:
        number = value if isinstance(value, Decimal) else Decimal(value)
        if not number.is_finite():
            raise UnstorableValue(f"{value!r} cannot be stored: NaN and Infinity are not numbers")
    if not number:
        return "0"
    digits = number.as_tuple().digits
    significant = len(digits)
    while significant > 1 and digits[significant - 1] == 0:
        significant -= 1
    if significant > MAX_NUMBER_DIGITS:
        raise UnstorableValue(
            f"{value!r} has {significant} significant digits; DynamoDB keeps at most "
            f"{MAX_NUMBER_DIGITS}"
        )
    exponent = number.adjusted()
    if not MIN_NUMBER_EXPONENT <= exponent <= MAX_NUMBER_EXPONENT:
        raise UnstorableValue(
            f"{value!r} is outside DynamoDB's number range (magnitude 1E-130 to 9.99E+125)"
        )
    if len(digits) > MAX_NUMBER_DIGITS:
        # Trailing zeros past 38 digits (10**38): the same number, written shorter.
        number = number.normalize()
    return str(number)


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
        return number_text(value)

    # boto3 serializes an empty set as an empty NS; DynamoDB rejects empty sets.
    def _serialize_ns(self, value: Any) -> list[str]:
        if not value:
            raise UnstorableValue("an empty set cannot be stored")
        return [number_text(n) for n in value]

    def _serialize_ss(self, value: Any) -> list[str]:
        if not value:
            raise UnstorableValue("an empty set cannot be stored")
        return list(value)

    def _serialize_bs(self, value: Any) -> list[Any]:
        if not value:
            raise UnstorableValue("an empty set cannot be stored")
        return [self._serialize_b(b) for b in value]


class _Deserializer(TypeDeserializer):  # type: ignore[misc]
    """boto3's deserializer returning plain ``bytes`` for binary values."""

    numbers: NumberMode = "decimal"

    def _deserialize_n(self, value: str) -> Any:
        number = super()._deserialize_n(value)
        if self.numbers == "decimal":
            return number
        if number == number.to_integral_value():
            return int(number)
        return float(number) if self.numbers == "float" else number

    def _deserialize_ns(self, value: Any) -> set[Any]:
        return {self._deserialize_n(v) for v in value}

    def _deserialize_b(self, value: Any) -> bytes:
        return bytes(value)

    def _deserialize_bs(self, value: Any) -> set[bytes]:
        return {bytes(v) for v in value}


_SERIALIZER = _Serializer()
_DESERIALIZER = _Deserializer()
_DESERIALIZERS: dict[str, _Deserializer] = {"decimal": _DESERIALIZER}
for _mode in ("int", "float"):
    _DESERIALIZERS[_mode] = _Deserializer()
    _DESERIALIZERS[_mode].numbers = _mode


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
    UnstorableValue
        (a ``ValueError``) for values DynamoDB rejects: NaN, infinity, numbers out of
        range or over 38 significant digits, empty sets.
    TypeError
        For types DynamoDB has no form for.
    """
    serialize = _SERIALIZER.serialize
    return {name: serialize(value) for name, value in item.items()}


def deserialize_item(
    item: Mapping[str, AttributeValue], numbers: NumberMode = "decimal"
) -> dict[str, Any]:
    """Convert a DynamoDB-JSON item back to plain Python; numbers as ``numbers`` says."""
    deserialize = _DESERIALIZERS[numbers].deserialize
    return {name: deserialize(value) for name, value in item.items()}


def deserializer(numbers: NumberMode = "decimal") -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A DynamoDB-JSON-to-Python item converter returning numbers as ``numbers`` says.

    ``"decimal"`` is boto3's behaviour; ``"int"`` gives ``int`` for integral numbers and
    ``Decimal`` otherwise; ``"float"`` gives ``int`` or ``float`` (which may round).
    """
    if numbers not in _DESERIALIZERS:
        raise ValueError(f"numbers must be 'decimal', 'int' or 'float', not {numbers!r}")
    deserialize = _DESERIALIZERS[numbers].deserialize

    def convert(item: Mapping[str, Any]) -> dict[str, Any]:
        return {name: deserialize(value) for name, value in item.items()}

    return convert


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
    # A key value is a string, a number or binary, and Python tells str, Decimal and
    # bytes apart (no str equals a Decimal or bytes), so the value alone identifies it.
    ((kind, data),) = value.items()
    if kind == "N":
        # 1, 1.0 and 1E0 are the same number and so the same key to DynamoDB.
        return Decimal(data)
    if kind == "B":
        return bytes(data)
    return data


def key_identity(key: Mapping[str, AttributeValue]) -> tuple[Any, ...]:
    """A hashable identity of a DynamoDB-JSON key: equal keys, equal identities.

    ``(name, value)`` for a one-attribute key, ``(name1, value1, name2, value2)`` in name
    order for two; a value is its ``str``, ``Decimal`` or ``bytes``. One flat tuple: the
    layer holds one per key for a whole call.
    """
    if len(key) == 1:
        ((name, value),) = key.items()
        return (name, _hashable(value))
    flat: list[Any] = []
    for name, value in sorted(key.items(), key=_first):
        flat += (name, _hashable(value))
    return tuple(flat)


def _first(pair: tuple[str, Any]) -> str:
    return pair[0]


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
