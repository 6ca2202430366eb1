"""One item checked as DynamoDB would check it, before anything is sent.

Keys present, of the key's type and not empty; numbers within DynamoDB's range
(1E-130 to 9.99...E+125, either sign) and 38 significant digits; no NaN or infinity;
values DynamoDB can store; the whole item within 400 KB. The first problem found is raised
as :class:`ItemProblem`, naming the attribute.

The batch layer's own per-item check (``dynabatch.check_item``) is used where the layer
has it, so the command line refuses exactly what the layer would; until then the same
rules are checked here.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dynabatch
from dynabatch import MAX_ITEM_BYTES, item_size, serialize_item

__all__ = ["ItemProblem", "check_item"]

_KEY_TYPES = {"S": (str,), "N": (int, decimal.Decimal), "B": (bytes, bytearray)}


@dataclass
class ItemProblem(Exception):
    """Why an item cannot be written; ``permanent`` when no retry can ever write it."""

    attribute: str | None
    reason: str
    too_large: bool = False

    def __str__(self) -> str:
        return f"attribute {self.attribute!r}: {self.reason}" if self.attribute else self.reason


def check_item(
    item: Mapping[str, Any],
    key_names: tuple[str, ...],
    key_types: Mapping[str, str],
    table: str = "",
) -> int:
    """Check ``item`` for ``put``; returns its size in bytes as DynamoDB counts it.

    Raises
    ------
    ItemProblem
        The first problem found (a missing or empty key, a bad number, a value DynamoDB
        cannot store, a size over 400 KB).
    """
    _check_keys(item, key_names, key_types)
    layer_check = getattr(dynabatch, "check_item", None)
    if layer_check is not None:
        try:
            return int(layer_check(table, item, key_names, key_types))
        except dynabatch.BatchLayerError as error:
            too_large = isinstance(error, dynabatch.ItemTooLargeError)
            attribute = getattr(error, "attribute", None)
            reason = getattr(error, "reason", None) or str(error)
            raise ItemProblem(attribute, reason, too_large) from None
    return _check_here(item)


def _check_keys(
    item: Mapping[str, Any], key_names: tuple[str, ...], key_types: Mapping[str, str]
) -> None:
    for name in key_names:
        if name not in item:
            raise ItemProblem(None, f"missing key attribute {name!r}")
        kind = key_types.get(name, "S")
        value = item[name]
        if isinstance(value, bool) or not isinstance(value, _KEY_TYPES.get(kind, (str,))):
            raise ItemProblem(name, f"a key attribute of type {kind}, got {_type_name(value)}")
        if kind in ("S", "B") and not value:
            raise ItemProblem(name, "a key attribute cannot be empty")


def _check_here(item: Mapping[str, Any]) -> int:
    wire: dict[str, Any] = {}
    for name, value in item.items():
        try:
            wire.update(serialize_item({name: value}))
        except decimal.Overflow:
            raise ItemProblem(name, f"number out of range (over 9.99E+125): {value}") from None
        except decimal.Underflow:
            raise ItemProblem(name, f"number out of range (under 1E-130): {value}") from None
        except (decimal.Inexact, decimal.Rounded):
            raise ItemProblem(
                name, f"number has more than 38 significant digits: {value}"
            ) from None
        except (TypeError, ValueError, decimal.DecimalException) as error:
            raise ItemProblem(name, _first_line(error)) from None
        if _has_empty_set(value):
            raise ItemProblem(name, "DynamoDB has no empty sets (leave the attribute out)")
        number = _out_of_range(value)
        if number is not None:
            raise ItemProblem(name, f"number out of range (1E-130 to 9.99E+125): {number}")
    size = item_size(wire)
    if size > MAX_ITEM_BYTES:
        raise ItemProblem(None, f"{size} bytes, over DynamoDB's {MAX_ITEM_BYTES}-byte limit", True)
    return size


_HIGHEST = decimal.Decimal("1E+126")
_LOWEST = decimal.Decimal("1E-130")


def _out_of_range(value: Any) -> Any:
    # boto3's decimal context lets 1E+126 through (Emax 126); DynamoDB refuses it.
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, decimal.Decimal)):
        size = abs(decimal.Decimal(value))
        return value if size >= _HIGHEST or (size and size < _LOWEST) else None
    if isinstance(value, (list, set, frozenset)):
        members: Any = value
    elif isinstance(value, dict):
        members = value.values()
    else:
        return None
    for member in members:
        found = _out_of_range(member)
        if found is not None:
            return found
    return None


def _has_empty_set(value: Any) -> bool:
    if isinstance(value, (set, frozenset)):
        return not value
    if isinstance(value, list):
        return any(_has_empty_set(v) for v in value)
    if isinstance(value, dict):
        return any(_has_empty_set(v) for v in value.values())
    return False


def _type_name(value: Any) -> str:
    return {str: "a string", bool: "a boolean"}.get(type(value), type(value).__name__)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
