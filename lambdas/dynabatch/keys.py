"""Key identities and key texts without a serialiser, for the keys almost every table has.

The layer tells keys apart by :func:`dynabatch.serde.key_identity` of their DynamoDB JSON.
Building that JSON with ``TypeSerializer`` (or even :func:`dynabatch.codec.encode_item`)
for every key, and again for every item a response returns, is most of a batch read's
own work. Keys are almost always non-empty strings or small integers, so these functions
compute the same identity (and the key's wire text) from plain values directly, and
return ``None`` for anything else: the caller then takes the general path, which checks
the key and words its errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

from .checks import MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES
from .codec import wire_to_botocore
from .serde import key_identity, key_of

__all__ = ["fast_key_identity", "encode_plain_key", "string_partition_key", "wire_identity"]

_quote = encode_basestring_ascii
#: Partition and sort key byte limits (checks.py's), and the ints that fit 38 digits.
_KEY_LIMITS = (MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES)
_INT_LIMIT = 10**38


def fast_key_identity(
    item: Any, names: tuple[str, ...], types: Mapping[str, str] | None
) -> tuple[Any, ...] | None:
    """:func:`key_identity` of the key in ``item`` when every key value is a plain
    non-empty ``str`` or an ``int`` DynamoDB takes, of the table's type: keys almost always
    are, and then no serialiser runs. ``None`` otherwise: :func:`prepare_key` checks the
    rest (and raises its own errors)."""
    single = string_partition_key(item, names, types)
    if single is not None:
        return single[:2]
    made = encode_plain_key(item, names, types, text=False)
    return None if made is None else made[0]


def string_partition_key(
    key: Any, names: tuple[str, ...], types: Mapping[str, str] | None
) -> tuple[str, str, int] | None:
    """Most tables' case, quickly: a one-attribute key whose value in ``key`` (a dict) is
    a non-empty ``str`` DynamoDB takes as the partition key. Its name, value and UTF-8
    length; ``None`` for anything else (the general path decides)."""
    if type(key) is not dict or len(names) != 1:
        return None
    name = names[0]
    value: Any = key.get(name)
    if type(value) is not str or not value or (types and types.get(name, "S") != "S"):
        return None
    length = len(value) if value.isascii() else len(value.encode("utf-8"))
    return (name, value, length) if length <= MAX_PARTITION_KEY_BYTES else None


def encode_plain_key(
    key: Any, names: tuple[str, ...], types: Mapping[str, str] | None, *, text: bool = True
) -> tuple[tuple[Any, ...], str, int] | None:
    """The identity, DynamoDB JSON text and size of the key in ``key`` (an item or a key).

    Returns what ``key_identity``, ``codec.encode_item`` and ``item_size`` give for the
    key attributes when each is a non-empty ``str`` within DynamoDB's key length or an
    ``int`` of at most 38 digits, of the table's declared type; ``None`` otherwise (the
    text is ``""`` when ``text`` is false).
    """
    single = string_partition_key(key, names, types)
    if single is not None:
        only, string, length = single
        key_text = f'{{{_quote(only)}:{{"S":{_quote(string)}}}}}' if text else ""
        name_size = len(only) if only.isascii() else len(only.encode("utf-8"))
        return (only, string), key_text, name_size + length
    if type(key) is not dict:
        return None
    parts = []
    texts = []
    size = 0
    for position, name in enumerate(names):
        value: Any = key.get(name)
        wanted = types.get(name) if types else None
        kind = type(value)
        if kind is str and value and (wanted is None or wanted == "S"):
            length = len(value) if value.isascii() else len(value.encode("utf-8"))
            if length > _KEY_LIMITS[position > 0]:
                return None
            parts.append((name, value))
            if text:
                texts.append(f'{_quote(name)}:{{"S":{_quote(value)}}}')
        elif kind is int and -_INT_LIMIT < value < _INT_LIMIT and wanted in (None, "N"):
            digits = str(value)
            parts.append((name, Decimal(value)))
            if text:
                texts.append(f'{_quote(name)}:{{"N":"{digits}"}}')
            length = (len(digits.lstrip("-").rstrip("0")) + 1) // 2 + 1
        else:
            return None
        size += (len(name) if name.isascii() else len(name.encode("utf-8"))) + length
    if len(parts) == 1:
        ident = parts[0]
    else:
        flat: list[Any] = []
        for pair in sorted(parts, key=_first):
            flat += pair
        ident = tuple(flat)
    return ident, ("{" + ",".join(texts) + "}" if text else ""), size


def _first(pair: tuple[str, Any]) -> str:
    return pair[0]


def wire_identity(item: Mapping[str, Mapping[str, Any]], names: tuple[str, ...]) -> Any:
    """:func:`key_identity` of the key of a DynamoDB-JSON item as a response body gives it
    (binary as base64 text), without copying the key first when it is made of strings.

    Raises
    ------
    ValueError
        When the item lacks one of the key attributes.
    """
    if len(names) == 1:
        name = names[0]
        value = item.get(name)
        if value is not None and len(value) == 1 and "S" in value:
            return (name, value["S"])
    return key_identity(wire_to_botocore(key_of(item, names)))  # type: ignore[arg-type]
