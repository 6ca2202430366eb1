"""Per-op checks before sending: everything DynamoDB documents as an item-level rejection.

A batch request fails whole when one of its ops is invalid, so every op is checked here
first and a bad one is reported on its own (:class:`InvalidItemError`) instead of taking
24 good neighbours down with it. Checked:

* size: at most 400 KB (:data:`MAX_ITEM_BYTES`) as DynamoDB counts it;
* key attributes: present, a string, number or binary (of the table's type when known),
  not empty, a partition key at most 2048 bytes and a sort key at most 1024;
* empty sets;
* numbers: magnitude 1E-130 to 9.99E+125, at most 38 significant digits, not NaN/Infinity
  (the same verdict for an int, a float or a Decimal of the same value).

The checks ride on serialization (one walk) plus the size walk the packer needs anyway;
only a failing item is walked again, to name the offending attribute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .constants import MAX_ITEM_BYTES
from .exceptions import InvalidItemError, ItemTooLargeError
from .serde import AttributeValue, item_size, serialize_item

__all__ = ["check_item", "check_key", "prepare_item", "prepare_key", "MAX_PARTITION_KEY_BYTES"]

#: DynamoDB's limits on one key value.
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024

_KEY_TYPES = {"S": "string", "N": "number", "B": "binary"}


def check_item(
    table: str,
    item: Mapping[str, Any],
    key_names: Sequence[str],
    key_types: Mapping[str, str] | None = None,
) -> int:
    """Check a put of ``item`` into ``table`` the way DynamoDB would, without sending it.

    Parameters
    ----------
    table:
        The table's name (for the error).
    item:
        The plain-Python item.
    key_names:
        The table's key attribute names, partition key first.
    key_types:
        Optional key attribute name to ``"S"``, ``"N"`` or ``"B"``; without it any of the
        three is accepted.

    Returns
    -------
    int
        The item's size in bytes as DynamoDB counts it.

    Raises
    ------
    InvalidItemError
        Naming table, key, attribute and problem (:class:`ItemTooLargeError` for size).
    """
    return prepare_item(table, item, tuple(key_names), key_types)[1]


def check_key(
    table: str,
    key: Mapping[str, Any],
    key_names: Sequence[str],
    key_types: Mapping[str, str] | None = None,
) -> None:
    """Check a key (for a get or a delete) the way DynamoDB would; see :func:`check_item`.

    Attributes of ``key`` that are not key attributes are ignored: the layer sends the key
    attributes only.

    Raises
    ------
    InvalidItemError
        Naming table, key, attribute and problem.
    """
    prepare_key(table, key, tuple(key_names), key_types)


def prepare_item(
    table: str,
    item: Mapping[str, Any],
    key_names: tuple[str, ...],
    key_types: Mapping[str, str] | None = None,
) -> tuple[dict[str, AttributeValue], int, dict[str, AttributeValue]]:
    """Serialize and check a put: ``(wire item, size, wire key)`` or InvalidItemError."""
    wire = _serialize(table, item, key_names)
    key = _wire_key(table, item, wire, key_names, key_types)
    size = item_size(wire)
    if size > MAX_ITEM_BYTES:
        raise ItemTooLargeError(table, _plain_key(item, key_names), size, MAX_ITEM_BYTES)
    return wire, size, key


def prepare_key(
    table: str,
    key: Mapping[str, Any],
    key_names: tuple[str, ...],
    key_types: Mapping[str, str] | None = None,
) -> dict[str, AttributeValue]:
    """Serialize and check a key, reduced to the key attributes; or InvalidItemError."""
    if not isinstance(key, Mapping):
        raise InvalidItemError(
            table, None, None, f"a key must be a mapping, not {type(key).__name__}"
        )
    only_key = {name: key[name] for name in key_names if name in key}
    wire = _serialize(table, only_key, key_names)
    return _wire_key(table, key, wire, key_names, key_types)


def _plain_key(item: Mapping[str, Any], key_names: tuple[str, ...]) -> dict[str, Any] | None:
    key = {name: item[name] for name in key_names if name in item}
    return key or None


def _serialize(
    table: str, item: Mapping[str, Any], key_names: tuple[str, ...]
) -> dict[str, AttributeValue]:
    if not isinstance(item, Mapping):
        raise InvalidItemError(
            table, None, None, f"an item must be a mapping, not {type(item).__name__}"
        )
    try:
        return serialize_item(item)
    except (ValueError, TypeError, ArithmeticError) as error:
        attribute, reason = _locate(item, "") or (None, _reason(error))
        raise InvalidItemError(table, _plain_key(item, key_names), attribute, reason) from None


def _locate(value: Any, path: str) -> tuple[str | None, str] | None:
    # Only a failing item comes here: find the first attribute that does not serialize.
    if isinstance(value, Mapping):
        for name, child in value.items():
            child_path = f"{path}.{name}" if path else str(name)
            if not isinstance(name, str):
                return child_path, f"attribute names must be strings, not {type(name).__name__}"
            found = _locate(child, child_path)
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, child in enumerate(value):
            found = _locate(child, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    try:
        serialize_item({"v": value})
    except (ValueError, TypeError, ArithmeticError) as problem:
        return path or None, _reason(problem)
    return None


def _reason(error: BaseException) -> str:
    text = str(error)
    if isinstance(error, ArithmeticError):
        return f"a number DynamoDB cannot hold ({type(error).__name__})"
    return text or type(error).__name__


def _wire_key(
    table: str,
    item: Mapping[str, Any],
    wire: Mapping[str, AttributeValue],
    key_names: tuple[str, ...],
    key_types: Mapping[str, str] | None,
) -> dict[str, AttributeValue]:
    key: dict[str, AttributeValue] = {}
    for position, name in enumerate(key_names):
        value = wire.get(name)
        if value is None:
            raise InvalidItemError(
                table, _plain_key(item, key_names), name, "the key attribute is missing"
            )
        ((kind, data),) = value.items()
        wanted = key_types.get(name) if key_types else None
        if kind not in _KEY_TYPES or (wanted is not None and kind != wanted):
            expected = _KEY_TYPES.get(wanted or "", "string, number or binary")
            raise InvalidItemError(
                table,
                _plain_key(item, key_names),
                name,
                f"a key attribute must be a {expected}, not {type(item[name]).__name__}",
            )
        if kind != "N":
            size = len(data.encode("utf-8")) if kind == "S" else len(data)
            if size == 0:
                raise InvalidItemError(
                    table, _plain_key(item, key_names), name, "a key attribute cannot be empty"
                )
            limit = MAX_PARTITION_KEY_BYTES if position == 0 else MAX_SORT_KEY_BYTES
            if size > limit:
                raise InvalidItemError(
                    table,
                    _plain_key(item, key_names),
                    name,
                    f"a {'partition' if position == 0 else 'sort'} key value is at most "
                    f"{limit} bytes, this one is {size}",
                )
        key[name] = value
    return key
